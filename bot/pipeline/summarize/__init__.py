"""Summarize stage: extractive summaries of threads, fully offline.

Every sentence of a thread is scored by a strategy (LexRank by default),
adjusted by :func:`information_bonus` (facts up, noise down) and
:func:`position_bonus` (the opening message and each message's first
sentences up), and picked greedily, best first, until
the word budget is used; the picked sentences come back in discussion order
with the message and author they came from.

Importing this package is cheap: numpy, nupunkt and the stemmer are imported
on first use (and sumy only for the strategies other than LexRank).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bot.model import SummarySentence

from .bonus import information_bonus, position_bonus
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
# LexRank and TextRank build an N x N graph: past this many sentences a thread
# (or one huge message) would cost gigabytes, so only this many are scored.
MAX_SENTENCES = 2000


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
    message: int  # index of its utterance in the discussion
    position: int  # index among its utterance's candidates


def summarize_thread(
    utterances: Sequence[Utterance], *, words: int = 120, strategy: str = "lexrank"
) -> list[SummarySentence]:
    """The thread's most informative sentences, within *words*, in discussion order."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    candidates = _bounded(list(_candidates(utterances)), MAX_SENTENCES)
    if not candidates:
        return []
    texts = [c.text for c in candidates]
    scores = [
        s + information_bonus(c.text) + position_bonus(c.message, c.position)
        for s, c in zip(score_sentences(texts, strategy), candidates, strict=True)
    ]
    picked = _pick(candidates, scores, words)
    return [SummarySentence(c.text, c.message_id, c.author) for c in picked]


def _bounded(candidates: list[_Candidate], limit: int) -> list[_Candidate]:
    """At most `limit` candidates, in discussion order: each message's first sentences before any later ones."""
    if len(candidates) <= limit:
        return candidates
    keep = sorted(sorted(range(len(candidates)), key=lambda i: (candidates[i].position, i))[:limit])
    return [candidates[i] for i in keep]


def _candidates(utterances: Sequence[Utterance]) -> Iterator[_Candidate]:
    """Distinct sentences of a sensible length, in discussion order."""
    seen: set[str] = set()
    for message, utterance in enumerate(utterances):
        position = 0
        for sentence in split_sentences(utterance.text):
            key = " ".join(sentence.casefold().split())
            length = count_words(sentence)
            if key in seen or not MIN_WORDS <= length <= MAX_WORDS:
                continue
            seen.add(key)
            yield _Candidate(sentence, utterance.message_id, utterance.author, length, message, position)
            position += 1


def _pick(candidates: list[_Candidate], scores: list[float], budget: int) -> list[_Candidate]:
    """Greedy by score (ties: earlier first), then back to discussion order.

    A sentence that would overflow the budget is skipped, unless nothing has
    been picked yet: a summary is never empty when there is something to say.
    A sentence the bonuses pushed below zero (a log line, a bare greeting) is
    never picked to fill a generous budget, only when there is nothing else.
    """
    ranked = sorted(range(len(candidates)), key=lambda i: -scores[i])
    chosen: list[int] = []
    used = 0
    for index in ranked:
        length = candidates[index].words
        if chosen and scores[index] < 0:
            break
        if used + length <= budget or not chosen:
            chosen.append(index)
            used += length
    return [candidates[i] for i in sorted(chosen)]
