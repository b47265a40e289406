"""Summarize stage: extractive summaries of threads, fully offline.

Every sentence a reader can take alone (`.sentences`: no fragments, run-ons,
attribution lines or `[n]` markers) is scored by a strategy (LexRank by
default), adjusted by :func:`information_bonus` (facts up, noise down),
:func:`position_bonus` (the opening message and each message's first
sentences up) and whether it asks a question, each part weighted by the
shipped `.weights`, and picked greedily, best first, until the word budget
is used (a sentence opening with "This" or "It" only with the one before
it); the picked sentences come back in discussion order with the message
and author they came from.

Importing this package is cheap: numpy, nupunkt and the stemmer are imported
on first use (and sumy only for the strategies other than LexRank).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from bot.model import SummarySentence

from .bonus import information_bonus, position_bonus
from .sentences import MAX_WORDS, MIN_WORDS, SHORTEST, is_attribution, mend, opens_with_pronoun, tidy, within_length
from .strategies import STRATEGIES, score_sentences
from .tokenize import count_words, get_tokenizer, split_paragraphs
from .weights import Weights, shipped_weights

__all__ = [
    "MAX_WORDS",
    "MIN_WORDS",
    "STRATEGIES",
    "ScoreParts",
    "Utterance",
    "Weights",
    "information_bonus",
    "pick_summary",
    "score_parts",
    "split_sentences",
    "summarize_thread",
]

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
    follows: bool = False  # the sentence just before it in its paragraph is the candidate before it


def summarize_thread(
    utterances: Sequence[Utterance], *, words: int = 120, strategy: str = "lexrank", weights: Weights | None = None
) -> list[SummarySentence]:
    """The thread's most informative sentences, within *words*, in discussion order."""
    return pick_summary(score_parts(utterances, strategy), words, weights or shipped_weights())


@dataclass(frozen=True, slots=True)
class ScoreParts:
    """A thread's candidate sentences and the parts of their scores, before weighting."""

    candidates: list[_Candidate]
    centrality: list[float]
    information: list[float]
    position: list[float]
    question: list[float]


def score_parts(utterances: Sequence[Utterance], strategy: str = "lexrank") -> ScoreParts:
    """Split and score once; `pick_summary` weighs and picks (the tuner tries many weights on one scoring)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    candidates = _bounded(_without_fragments(list(_candidates(utterances))), MAX_SENTENCES)
    texts = [c.text for c in candidates]
    return ScoreParts(
        candidates,
        score_sentences(texts, strategy),
        [information_bonus(t) for t in texts],
        [position_bonus(c.message, c.position) for c in candidates],
        [1.0 if t.endswith("?") else 0.0 for t in texts],
    )


def pick_summary(parts: ScoreParts, words: int, weights: Weights) -> list[SummarySentence]:
    """The best-scoring sentences under *weights*, within *words*, in discussion order."""
    if not parts.candidates:
        return []
    w = weights
    scores = [
        w.centrality * c + w.information * i + w.position * p + w.question * q
        for c, i, p, q in zip(parts.centrality, parts.information, parts.position, parts.question, strict=True)
    ]
    picked = _pick(parts.candidates, scores, words)
    return [SummarySentence(c.text, c.message_id, c.author) for c in picked]


def _bounded(candidates: list[_Candidate], limit: int) -> list[_Candidate]:
    """At most `limit` candidates, in discussion order: each message's first sentences before any later ones."""
    if len(candidates) <= limit:
        return candidates
    keep = sorted(sorted(range(len(candidates)), key=lambda i: (candidates[i].position, i))[:limit])
    return [candidates[i] for i in keep]


def _candidates(utterances: Sequence[Utterance]) -> Iterator[_Candidate]:
    """Distinct sentences a reader can take alone (see `.sentences`), in discussion order."""
    seen: set[str] = set()
    for message, utterance in enumerate(utterances):
        position = 0
        for paragraph in split_paragraphs(utterance.text):
            follows = False  # a paragraph's first sentence follows nothing a reader would need
            for sentence in _reader_sentences(paragraph):
                key = " ".join(sentence.casefold().split())
                length = count_words(sentence)
                if key in seen or length < SHORTEST or is_attribution(sentence):
                    follows = False
                    continue
                seen.add(key)
                yield _Candidate(sentence, utterance.message_id, utterance.author, length, message, position, follows)
                position += 1
                follows = True


def split_sentences(text: str) -> list[str]:
    """Sentences of *text* as a summary quotes them: mended, run-ons split, `[n]` markers out."""
    return [s for paragraph in split_paragraphs(text) for s in _reader_sentences(paragraph)]


def _reader_sentences(paragraph: str) -> Iterator[str]:
    for whole in mend(get_tokenizer().to_sentences(paragraph)):
        for piece in within_length(whole):
            yield tidy(piece)


def _without_fragments(candidates: list[_Candidate]) -> list[_Candidate]:
    """Only sentences of MIN_WORDS or more, when the thread has any: a reader cannot place a fragment."""
    if all(c.words < MIN_WORDS for c in candidates):
        return candidates  # "Tagged. Packages follow tomorrow.": all there is to say
    kept: list[_Candidate] = []
    previous_kept = False
    for candidate in candidates:
        if candidate.words >= MIN_WORDS:
            kept.append(candidate if previous_kept or not candidate.follows else replace(candidate, follows=False))
        previous_kept = candidate.words >= MIN_WORDS
    return kept


def _pick(candidates: list[_Candidate], scores: list[float], budget: int) -> list[_Candidate]:
    """Greedy by score (ties: earlier first), then back to discussion order.

    A sentence that would overflow the budget is skipped, unless nothing has
    been picked yet: a summary is never empty when there is something to say.
    A sentence the bonuses pushed below zero (a log line, a bare greeting) is
    never picked to fill a generous budget, only when there is nothing else.
    One that opens with a pronoun ("This breaks the build") comes with the
    sentence before it, its antecedent, or not at all.
    """
    ranked = sorted(range(len(candidates)), key=lambda i: -scores[i])
    chosen: set[int] = set()
    used = 0
    for index in ranked:
        if chosen and scores[index] < 0:
            break
        unit = _with_antecedent(candidates, index)
        if not unit:
            continue
        length = sum(candidates[i].words for i in unit if i not in chosen)
        if used + length <= budget or not chosen:
            chosen.update(unit)
            used += length
    return [candidates[i] for i in sorted(chosen)]


def _with_antecedent(candidates: list[_Candidate], index: int) -> list[int]:
    """The candidate and the sentences it points back to; [] when what it points to is not there."""
    unit = [index]
    while opens_with_pronoun(candidates[unit[-1]].text):
        if not candidates[unit[-1]].follows or len(unit) > 2:
            return []
        unit.append(unit[-1] - 1)
    return unit
