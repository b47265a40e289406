"""`make tune`'s fit: weights move off the neutral ones only for a gain that holds thread by thread."""

from __future__ import annotations

from bot.pipeline.summarize import Utterance, Weights, score_parts
from bot.tools.tune import Example, fit, summary_text

ANSWER = "Thursday afternoon works for everyone in the Asian time zones, so the call moves there."


def _example(listno: str, side_track: str, reference: str) -> Example:
    thread = [
        Utterance("<1>", "Ann Lee", "Should we move the weekly call to Thursday afternoon for the Asian time zones?"),
        Utterance("<2>", "Bob Ray", f"{side_track} {ANSWER}"),
    ]
    return Example(listno, [], [reference], score_parts(thread))


SIDE_TRACKS = (
    "The new office coffee machine arrived yesterday and makes a decent espresso.",
    "My laptop battery died twice during yesterday's long release meeting downstairs.",
    "Somebody left a bicycle in the corridor next to the printer room again.",
    "The cafeteria now serves a vegetarian lunch special on most weekdays.",
)


def test_a_gain_on_every_thread_moves_the_weights() -> None:
    train = [_example(str(n), side, ANSWER) for n, side in enumerate(SIDE_TRACKS)]
    words = 16  # room for one sentence: the weights decide which
    assert all(ANSWER not in " ".join(summary_text(e, Weights(), words)) for e in train)
    fitted = fit(train, words)
    assert fitted != Weights()
    assert all(ANSWER in " ".join(summary_text(e, fitted, words)) for e in train)


def test_no_sure_gain_keeps_the_neutral_weights() -> None:
    # Half the threads' readers wanted the answer, half the opening question: no grid point wins on all.
    question = "Should we move the weekly call to Thursday afternoon for the Asian time zones?"
    train = [_example(str(n), side, ANSWER if n % 2 else question) for n, side in enumerate(SIDE_TRACKS)]
    assert fit(train, 16) == Weights()
