"""The topic part of a sentence's score: how closely a reply keeps to what the opening message asked."""

from __future__ import annotations

from bot.pipeline.summarize import Utterance, Weights, pick_summary, score_parts
from bot.pipeline.summarize.strategies import sentence_terms
from bot.pipeline.summarize.topic import topic_overlap

THREAD = [
    Utterance("<1>", "Ann", "Should we move the weekly call to Thursday afternoon for the Asian time zones?"),
    Utterance("<2>", "Bob", "The new office coffee machine arrived and it makes a decent espresso. "
                            "Thursday afternoon works for me, and the Asian time zones get a sane hour."),
]


def test_a_reply_on_the_opening_topic_overlaps_it_more_than_a_side_track() -> None:
    parts = score_parts(THREAD)
    texts = [c.text for c in parts.candidates]
    coffee, on_topic = texts.index(THREAD[1].text.split(". ")[0] + "."), 2
    assert parts.topic[0] == 0.0  # the opening message's own sentences: position_bonus favours them already
    assert parts.topic[on_topic] > parts.topic[coffee] >= 0.0
    assert all(0.0 <= t <= 1.0 for t in parts.topic)


def test_the_topic_weight_moves_the_pick_toward_the_answer() -> None:
    parts = score_parts(THREAD)
    answer = "Thursday afternoon works for me, and the Asian time zones get a sane hour."
    chosen = [s.text for s in pick_summary(parts, 30, Weights(centrality=0.0, information=0.0, position=0.0,
                                                                  topic=1.0))]
    assert answer in chosen


def test_no_opening_terms_means_no_topic() -> None:
    terms = sentence_terms(["Hi.", "The build is green again on every runner."])
    assert topic_overlap(terms, [0, 1]) == [0.0, 0.0]
    assert topic_overlap([], []) == []
