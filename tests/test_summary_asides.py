"""Parenthetical asides: scored with their sentence, left out of the summary and of its word budget."""

from __future__ import annotations

import pytest

from bot.pipeline.summarize import Utterance, Weights, pick_summary, score_parts, split_sentences, summarize_thread
from bot.pipeline.summarize.sentences import MIN_WORDS, without_asides

pytestmark = pytest.mark.usefixtures("offline")

ASIDE = "(as you cannot keep two versions on one machine to my knowledge)"
WITH_ASIDE = f"Install the new screen reader on a spare machine {ASIDE} before the usability tests."
WITHOUT_ASIDE = "Install the new screen reader on a spare machine before the usability tests."


def test_an_aside_is_dropped_and_facts_in_parentheses_stay() -> None:
    assert without_asides(WITH_ASIDE) == WITHOUT_ASIDE
    kept = (
        "The face to face meeting is in Bristol (5 & 6 October) after the release.",  # a date
        "The call was held on a holiday (Thanksgiving) in the US this year.",  # a name
        "Run it under a screen reader (JAWS or NVDA) before the release.",  # names
        "We still owe the follow-ups (vchan backend, package releases) to the list.",  # a list
        "Is there anything here that matters for the mirror (and if so, what breaks?).",  # a question
        "Tell us how it should be structured (or it will break your private branch ;)), please.",  # a smiley
    )
    assert [without_asides(s) for s in kept] == list(kept)
    assert without_asides("We call f(first, second, third) inside the loop body.") == (
        "We call f(first, second, third) inside the loop body."
    )  # code: no space before the parenthesis


def test_a_sentence_that_would_be_a_fragment_keeps_its_aside() -> None:
    aside = " (a week away for a few hours of meetings)"
    assert MIN_WORDS == 6
    assert without_asides(f"That is hard to sell to managers{aside}.") == "That is hard to sell to managers."
    assert without_asides(f"That is hard to sell{aside}.") == f"That is hard to sell{aside}."  # not five words


def test_the_summary_shows_the_sentence_without_its_aside_and_budgets_it_so() -> None:
    thread = [
        Utterance("<1>", "Ann Lee", f"We need a second machine for the usability tests next week. {WITH_ASIDE}"),
        Utterance("<2>", "Bob Ray", "The spare machine in the lab can run the screen reader for the tests."),
    ]
    summary = summarize_thread(thread, words=500)
    texts = [s.text for s in summary]
    assert WITHOUT_ASIDE in texts
    assert all(ASIDE not in t for t in texts)
    assert WITHOUT_ASIDE in split_sentences(thread[0].text)
    # The budget counts the words shown: exactly the shown words fit.
    parts = score_parts(thread)
    budget = sum(len(t.split()) for t in texts)
    assert [s.text for s in pick_summary(parts, budget, Weights())] == texts
