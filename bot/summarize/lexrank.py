"""A vectorised LexRank that picks exactly what sumy's LexRankSummarizer picks.

sumy's ``LexRankSummarizer`` compares every pair of sentences in pure Python,
which is quadratic in sentences *and* linear in words per pair: a 900-sentence
thread takes seconds.  Here the same quantities are computed with array code:

* term frequencies ``tf = count / max count in the sentence`` and
  ``idf = log(N / (1 + document frequency))`` (``math.log``, as sumy does),
* a sparse TF-IDF matrix ``W``; the idf-modified cosine of every pair is
  ``(W @ W.T) / (|w_i| |w_j|)``, a single sparse product,
* the graph keeps pairs with cosine ``> threshold`` (0.1), each row divided by
  its degree, exactly as sumy builds its dense matrix,
* the same power method as sumy (``epsilon`` 0.1) on the same dense matrix, so
  the scores are bit-for-bit sumy's and so are its tie-breaks,
* the best sentences are chosen by sumy's own ``_get_best_sentences`` (stable
  sort by score, descending, then back to document order).

The cosine is summed in a different order than sumy's, so it may differ in
the last bits; pairs whose cosine lies within ``THRESHOLD_BAND`` of the
threshold are therefore recomputed with sumy's own formula before comparing.

Importing this module imports numpy, scipy and sumy: import it lazily.
Memory is O(N^2) for the graph, as in sumy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sparse  # type: ignore[import-untyped]
from sumy.summarizers._summarizer import AbstractSummarizer  # type: ignore[import-untyped]
from sumy.summarizers.lex_rank import LexRankSummarizer  # type: ignore[import-untyped]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
THRESHOLD_BAND = 1e-9


@dataclass(frozen=True, slots=True)
class _TermWeights:
    """Per-sentence term frequencies and the thread's idf, as sumy has them."""

    sentences: list[list[str]]  # stems (stop words removed), per sentence
    tf: list[dict[str, float]]  # term -> count / max count, per sentence
    idf: dict[str, float]  # term -> log(N / (1 + sentences containing it))
    matrix: Any  # scipy CSR matrix, N x |terms|, tf * idf


class FastLexRankSummarizer(AbstractSummarizer):  # type: ignore[misc]
    """LexRank (Erkan & Radev), vectorised, equivalent to sumy's."""

    threshold = 0.1
    epsilon = 0.1
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
        weights = _term_weights(self._to_words_sets(sentences))
        rows, cols = _similar_pairs(weights, self.threshold)
        return power_method(_row_stochastic(len(sentences), rows, cols), self.epsilon)

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


def _term_weights(sentences: list[list[str]]) -> _TermWeights:
    vocabulary: dict[str, int] = {}
    tf_metrics: list[dict[str, float]] = []
    rows: list[int] = []
    cols: list[int] = []
    for row, words in enumerate(sentences):
        counts = Counter(words)
        max_tf = max(counts.values()) if counts else 1
        tf_metrics.append({term: count / max_tf for term, count in counts.items()})
        rows.extend([row] * len(counts))
        cols.extend(vocabulary.setdefault(term, len(vocabulary)) for term in counts)
    n = len(sentences)
    col_index = np.asarray(cols, dtype=np.intp)
    frequency = np.bincount(col_index, minlength=len(vocabulary)).tolist()
    idf_values = [math.log(n / (1 + df)) for df in frequency]
    tf_values = [tf for metrics in tf_metrics for tf in metrics.values()]
    data = np.asarray(tf_values, dtype=np.float64) * np.asarray(idf_values)[col_index]
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(n, len(vocabulary)))
    idf = dict(zip(vocabulary, idf_values, strict=True))
    return _TermWeights(sentences, tf_metrics, idf, matrix)


def _similar_pairs(weights: _TermWeights, threshold: float) -> tuple[IntArray, IntArray]:
    """(rows, cols) of the sentence pairs whose idf-modified cosine exceeds *threshold*."""
    matrix = weights.matrix
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    products = (matrix @ matrix.T).tocoo()
    rows, cols, dots = products.row, products.col, products.data
    denominators = norms[rows] * norms[cols]
    cosine = np.divide(dots, denominators, out=np.zeros_like(dots), where=denominators > 0)
    above = cosine > threshold
    for k in np.flatnonzero(np.abs(cosine - threshold) <= THRESHOLD_BAND).tolist():
        above[k] = _exact_cosine(weights, int(rows[k]), int(cols[k])) > threshold
    return rows[above], cols[above]


def _exact_cosine(weights: _TermWeights, i: int, j: int) -> float:
    """The cosine as sumy computes it, summation order included."""
    value: float = LexRankSummarizer.cosine_similarity(
        weights.sentences[i], weights.sentences[j], weights.tf[i], weights.tf[j], weights.idf
    )
    return value


def _row_stochastic(count: int, rows: IntArray, cols: IntArray) -> FloatArray:
    """sumy's dense graph: 1 / degree of the row at every edge, 0 elsewhere."""
    degrees = np.bincount(rows, minlength=count).astype(np.float64)
    degrees[degrees == 0] = 1.0
    matrix = np.zeros((count, count))
    matrix[rows, cols] = 1.0 / degrees[rows]
    return matrix


def power_method(matrix: FloatArray, epsilon: float) -> FloatArray:
    """Stationary vector, with sumy's exact operations (for identical floats)."""
    transposed = matrix.T
    count = len(matrix)
    p_vector = np.array([1.0 / count] * count)
    lambda_val = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        while lambda_val > epsilon:
            next_p = np.dot(transposed, p_vector)
            next_p /= np.linalg.norm(next_p)
            lambda_val = float(np.linalg.norm(np.subtract(next_p, p_vector)))
            p_vector = next_p
    return p_vector
