"""Score every sentence of a thread with one summarization strategy.

sumy's summarizers only return the best sentences, not their scores.  They all
hand ``sentences_count`` unchanged to ``_get_best_sentences``, which accepts a
callable count; passing one that records each sentence's rating gives us the
scores without re-implementing any summarizer.

LexRank, the default, skips sumy altogether: our vectorised LexRank rates the
sentences' terms directly (same tokens, stop words and stemmer as the sumy
plug-in, so the same scores), and a draft never imports sumy's summarizer base,
whose stemmer module pulls in nltk.  Everything heavy is imported lazily.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from .tokenize import get_stemmer, get_stop_words, get_tokenizer

STRATEGIES = ("lexrank", "textrank", "lsa", "luhn", "lead")


def score_sentences(
    sentences: Sequence[str], strategy: str, terms: Sequence[Sequence[str]] | None = None
) -> list[float]:
    """A score per sentence (higher is better), normalised to ``[0, 1]``.

    *terms* are the sentences' `sentence_terms` when the caller has them already (LexRank reuses them).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    if not sentences:
        return []
    if strategy == "lead":
        raw = [float(len(sentences) - i) for i in range(len(sentences))]
    elif strategy == "lexrank":
        from .lexrank import lexrank_scores

        raw = lexrank_scores(sentence_terms(sentences) if terms is None else terms).tolist()
    else:
        raw = _summarizer_ratings(_summarizer(strategy), sentences)
    return _normalise(raw)


def sentence_terms(sentences: Sequence[str]) -> list[list[str]]:
    """Each sentence's terms as sumy's LexRank sees them: words, lower-cased, stop words out, stemmed."""
    tokenizer, stem, stop_words = get_tokenizer(), get_stemmer(), get_stop_words()
    words = [tokenizer.to_words(sentence) for sentence in sentences]
    terms: dict[str, str | None] = {}  # word as written -> its term, None for a stop word
    for word in {w for sentence_words in words for w in sentence_words}:
        normal = word.lower()
        terms[word] = None if normal in stop_words else stem(normal)
    return [[t for t in map(terms.__getitem__, sentence_words) if t is not None] for sentence_words in words]


def _summarizer_ratings(summarizer: Callable[..., Any], sentences: Sequence[str]) -> list[float]:
    """Run a sumy summarizer and capture the rating it gives each sentence."""
    ratings: dict[int, float] = {}

    def record(infos: list[Any]) -> list[Any]:
        for info in infos:
            ratings[info.order] = float(info.rating)
        return infos

    with warnings.catch_warnings():
        # LSA warns when a thread has fewer distinct words than sentences.
        warnings.simplefilter("ignore", UserWarning)
        summarizer(_document(sentences), record)
    return [ratings.get(i, 0.0) for i in range(len(sentences))]


def _document(sentences: Sequence[str]) -> Any:
    """A sumy document of one paragraph holding *sentences* in order."""
    from sumy.models.dom import (  # type: ignore[import-untyped]
        ObjectDocumentModel,
        Paragraph,
        Sentence,
    )

    tokenizer = get_tokenizer()
    return ObjectDocumentModel([Paragraph([Sentence(s, tokenizer) for s in sentences])])


@cache
def _summarizer(strategy: str) -> Callable[..., Any]:
    """A configured summarizer per strategy, built once per process."""
    summarizer = _summarizer_class(strategy)(get_stemmer())
    summarizer.stop_words = get_stop_words()
    return summarizer  # type: ignore[no-any-return]


def _summarizer_class(strategy: str) -> Any:
    if strategy == "textrank":
        from sumy.summarizers.text_rank import TextRankSummarizer  # type: ignore[import-untyped]

        return TextRankSummarizer
    if strategy == "lsa":
        from sumy.summarizers.lsa import LsaSummarizer  # type: ignore[import-untyped]

        return LsaSummarizer
    from sumy.summarizers.luhn import LuhnSummarizer  # type: ignore[import-untyped]

    return LuhnSummarizer


def _normalise(raw: Sequence[float]) -> list[float]:
    """Divide by the best score; NaN and negative scores count as 0."""
    clean = [0.0 if math.isnan(x) or x < 0 else x for x in raw]
    best = max(clean)
    return [x / best for x in clean] if best > 0 else [0.0] * len(clean)
