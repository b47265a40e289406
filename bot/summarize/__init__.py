"""Summarize stage: extractive summaries of threads, fully offline.

Every sentence of a thread is scored by a strategy (LexRank by default),
adjusted by :func:`information_bonus`, and picked greedily, best first, until
the word budget is used; the picked sentences come back in discussion order
with the message and author they came from.

Importing this package is cheap: sumy, numpy, scipy and nupunkt are imported
on first use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..model import SummarySentence
from .bonus import information_bonus
from .strategies import STRATEGIES, score_sentences
from .tokenize import count_words, split_sentences

__all__ = [
    "MAX_WORDS",
    "MIN_WORDS",
    "STRATEGIES",
    "Utterance",
    "information_bonus",
    "split_sentences",
    "summarize_thread",
]

MIN_WORDS = 3  # shorter sentences ("Thanks!", "+1") are never picked
MAX_WORDS = 80  # longer ones are pasted logs or run-on text


@dataclass(frozen=True, slots=True)
class Utterance:
    """One message's cleaned author text."""

    message_id: str
    author: str
    text: str  # paragraphs separated by blank lines (quotes/signatures removed)


@dataclass(frozen=True, slots=True)
class _Candidate:
    text: str
    message_id: str
    author: str
    words: int


def summarize_thread(
    utterances: Sequence[Utterance], *, words: int = 120, strategy: str = "lexrank"
) -> list[SummarySentence]:
    """The thread's most informative sentences, within *words*, in discussion order."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    candidates = list(_candidates(utterances))
    if not candidates:
        return []
    texts = [c.text for c in candidates]
    scores = [s + information_bonus(t) for s, t in zip(score_sentences(texts, strategy), texts, strict=True)]
    picked = _pick(candidates, scores, words)
    return [SummarySentence(c.text, c.message_id, c.author) for c in picked]


def _candidates(utterances: Sequence[Utterance]) -> Iterator[_Candidate]:
    """Distinct sentences of a sensible length, in discussion order."""
    seen: set[str] = set()
    for utterance in utterances:
        for sentence in split_sentences(utterance.text):
            key = " ".join(sentence.casefold().split())
            length = count_words(sentence)
            if key in seen or not MIN_WORDS <= length <= MAX_WORDS:
                continue
            seen.add(key)
            yield _Candidate(sentence, utterance.message_id, utterance.author, length)


def _pick(candidates: list[_Candidate], scores: list[float], budget: int) -> list[_Candidate]:
    """Greedy by score (ties: earlier first), then back to discussion order.

    A sentence that would overflow the budget is skipped, unless nothing has
    been picked yet: a summary is never empty when there is something to say.
    """
    ranked = sorted(range(len(candidates)), key=lambda i: -scores[i])
    chosen: list[int] = []
    used = 0
    for index in ranked:
        length = candidates[index].words
        if used + length <= budget or not chosen:
            chosen.append(index)
            used += length
    return [candidates[i] for i in sorted(chosen)]
