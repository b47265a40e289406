"""Summarize stage: extractive summaries of threads, fully offline.

Every sentence a reader can take alone (`.sentences`: no fragments, run-ons,
attribution lines, introductions ending in ":" or the rest of one, and `[n]`
markers only as links to their references) is scored by a strategy (LexRank by
default), adjusted by :func:`information_bonus` (facts up, noise down),
:func:`position_bonus` (the opening message and each message's first
sentences up), whether it asks a question and how closely a reply keeps to
the opening message's topic (`.topic`), each part weighted by the
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
from .sentences import (
    MAX_WORDS,
    MIN_WORDS,
    SHORTEST,
    continues,
    introduced,
    is_attribution,
    mend,
    opens_with_pronoun,
    shown,
    tidy,
    within_length,
    without_asides,
)
from .strategies import STRATEGIES, score_sentences, sentence_terms
from .tokenize import count_words, get_tokenizer, split_paragraphs
from .topic import topic_overlap
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
    shown: str = ""  # the text as the digest shows it, when not `text`: with its `[n]` references as links


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
    topic: list[float]


def score_parts(utterances: Sequence[Utterance], strategy: str = "lexrank") -> ScoreParts:
    """Split and score once; `pick_summary` weighs and picks (the tuner tries many weights on one scoring)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    candidates = _bounded(_without_fragments(list(_candidates(utterances))), MAX_SENTENCES)
    texts = [c.text for c in candidates]
    terms = sentence_terms(texts)  # once: LexRank and the topic overlap share them
    return ScoreParts(
        candidates,
        score_sentences(texts, strategy, terms),
        [information_bonus(t) for t in texts],
        [position_bonus(c.message, c.position) for c in candidates],
        [1.0 if t.endswith("?") else 0.0 for t in texts],
        topic_overlap(terms, [c.message for c in candidates]),
    )


def pick_summary(parts: ScoreParts, words: int, weights: Weights) -> list[SummarySentence]:
    """The best-scoring sentences under *weights*, within *words*, in discussion order."""
    if not parts.candidates:
        return []
    w = weights
    scores = [
        w.centrality * c + w.information * i + w.position * p + w.question * q + w.topic * t
        for c, i, p, q, t in zip(
            parts.centrality, parts.information, parts.position, parts.question, parts.topic, strict=True
        )
    ]
    picked = _pick(parts.candidates, scores, words)
    return [SummarySentence(c.shown or c.text, c.message_id, c.author) for c in picked]


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
        paragraphs = split_paragraphs(utterance.text)
        listed = 0  # paragraphs after this one joined to its last sentence, the list it introduces
        for index, paragraph in enumerate(paragraphs):
            if listed:
                listed -= 1
                continue
            follows = False  # a paragraph's first sentence follows nothing a reader would need
            sentences = list(_reader_sentences(paragraph))
            if sentences and sentences[-1].endswith(":"):
                sentences[-1], listed = introduced(sentences[-1], paragraphs[index + 1 :])
            for linked in sentences:
                sentence = tidy(linked)
                key = " ".join(sentence.casefold().split())
                if key in seen or count_words(sentence) < SHORTEST or is_attribution(sentence):
                    follows = False
                    continue
                seen.add(key)
                # Scored on all it says; shown, and counted against the budget, without its asides.
                read = without_asides(sentence)
                display = without_asides(shown(linked)) if linked is not sentence else read
                yield _Candidate(sentence, utterance.message_id, utterance.author, count_words(read), message,
                                 position, follows, display if display != sentence else "")
                position += 1
                follows = True


def split_sentences(text: str) -> list[str]:
    """Sentences of *text* as a summary quotes them: mended, run-ons split, `[n]` markers and asides out."""
    return [without_asides(tidy(s)) for paragraph in split_paragraphs(text) for s in _reader_sentences(paragraph)]


def _reader_sentences(paragraph: str) -> Iterator[str]:
    """The paragraph's sentences as a reader reads them, `[n]` markers still in (see `tidy` and `shown`)."""
    for whole in mend(get_tokenizer().to_sentences(paragraph)):
        yield from within_length(whole)


def _without_fragments(candidates: list[_Candidate]) -> list[_Candidate]:
    """Only sentences a reader can place, when the thread has any (see `_readable`)."""
    readable = [_readable(c) for c in candidates]
    if not any(readable):  # an introduction before a fragment, then a fragment: "Tagged. Packages follow tomorrow."
        readable = [c.words >= MIN_WORDS for c in candidates]
        if not any(readable):
            return candidates
    kept: list[_Candidate] = []
    previous_kept = False
    for candidate, keep in zip(candidates, readable, strict=True):
        if keep:
            kept.append(candidate if previous_kept or not candidate.follows else replace(candidate, follows=False))
        previous_kept = keep
    return kept


def _readable(candidate: _Candidate) -> bool:
    """MIN_WORDS or more, not an introduction to what follows it, nor the rest of one.

    What a sentence ending in ":" introduces ("A TCP run looks like this:")
    is a list, a quote or a log in a paragraph of its own, or was cleaned away:
    the summary does not show it, and the introduction alone promises what the
    reader never gets. The sentence after such a log often goes on from the
    introduction ("whereas UDP pushes batches of 32."): half a sentence.
    """
    return candidate.words >= MIN_WORDS and not candidate.text.endswith(":") and not continues(candidate.text)


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
