"""Our LexRank as a sumy summarizer: a drop-in for ``LexRankSummarizer``.

The digest itself scores sentences with :func:`bot.pipeline.summarize.lexrank.lexrank_scores`
directly; this class is for anyone who wants sumy's interface (and for the
tests and benchmarks that compare it with sumy's own).  Importing it imports
sumy's summarizer base, and with it nltk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sumy.summarizers._summarizer import AbstractSummarizer  # type: ignore[import-untyped]

from .lexrank import EPSILON, THRESHOLD, FloatArray, lexrank_scores


class FastLexRankSummarizer(AbstractSummarizer):  # type: ignore[misc]
    """LexRank (Erkan & Radev), vectorised, equivalent to sumy's."""

    threshold = THRESHOLD
    epsilon = EPSILON
    _stop_words: frozenset[str] = frozenset()

    @property
    def stop_words(self) -> frozenset[str]:
        return self._stop_words

    @stop_words.setter
    def stop_words(self, words: Iterable[str]) -> None:
        self._stop_words = frozenset(map(self.normalize_word, words))

    def __call__(self, document: Any, sentences_count: Any) -> tuple[Any, ...]:
        sentences = document.sentences
        if not sentences:
            return ()
        ratings = dict(zip(sentences, self.rate_sentences(sentences), strict=True))
        best: tuple[Any, ...] = self._get_best_sentences(sentences, sentences_count, ratings)
        return best

    def rate_sentences(self, sentences: Sequence[Any]) -> FloatArray:
        """LexRank score of each sentence, in document order."""
        return lexrank_scores(self._to_words_sets(sentences), self.threshold, self.epsilon)

    def _to_words_sets(self, sentences: Sequence[Any]) -> list[list[str]]:
        """Stems of the non-stop words of each sentence (sumy's ``_to_words_set``).

        Each distinct word is normalised and stemmed once (both are pure).
        """
        stems: dict[str, str | None] = {}  # normalised word -> stem, None for a stop word
        terms: dict[str, str | None] = {}  # word as written -> stem, None for a stop word
        for word in {w for sentence in sentences for w in sentence.words}:
            normal = self.normalize_word(word)
            if normal not in stems:
                stems[normal] = None if normal in self._stop_words else self.stem_word(normal)
            terms[word] = stems[normal]
        return [[t for t in map(terms.__getitem__, sentence.words) if t is not None] for sentence in sentences]
