"""A vectorised LexRank whose scores are bit-for-bit those of sumy's LexRankSummarizer.

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
  the scores are bit-for-bit sumy's and so are its tie-breaks.

The cosine is summed in a different order than sumy's, so it may differ in
the last bits; pairs whose cosine lies within ``THRESHOLD_BAND`` of the
threshold are therefore recomputed with sumy's own formula before comparing.

This module needs numpy and scipy but not sumy (whose stemmer module imports
nltk, and nltk scipy.stats: over a second of start-up).  The sumy plug-in
built on it is :class:`bot.summarize.sumy_lexrank.FastLexRankSummarizer`.
Memory is O(N^2) for the graph, as in sumy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sparse  # type: ignore[import-untyped]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
THRESHOLD = 0.1  # sumy's defaults
EPSILON = 0.1
THRESHOLD_BAND = 1e-9


@dataclass(frozen=True, slots=True)
class _TermWeights:
    """Per-sentence term frequencies and the thread's idf, as sumy has them."""

    sentences: Sequence[Sequence[str]]  # stems (stop words removed), per sentence
    tf: list[dict[str, float]]  # term -> count / max count, per sentence
    idf: dict[str, float]  # term -> log(N / (1 + sentences containing it))
    matrix: Any  # scipy CSR matrix, N x |terms|, tf * idf


def lexrank_scores(
    sentences: Sequence[Sequence[str]], threshold: float = THRESHOLD, epsilon: float = EPSILON
) -> FloatArray:
    """LexRank score of each sentence, given each sentence's terms (stemmed, stop words removed)."""
    if not sentences:
        return np.zeros(0)
    weights = _term_weights(sentences)
    rows, cols = _similar_pairs(weights, threshold)
    return power_method(_row_stochastic(len(sentences), rows, cols), epsilon)


def _term_weights(sentences: Sequence[Sequence[str]]) -> _TermWeights:
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
        i, j = int(rows[k]), int(cols[k])
        above[k] = sumy_cosine(weights.sentences[i], weights.sentences[j], weights.tf[i], weights.tf[j],
                               weights.idf) > threshold
    return rows[above], cols[above]


def sumy_cosine(
    sentence1: Sequence[str], sentence2: Sequence[str], tf1: dict[str, float], tf2: dict[str, float],
    idf: dict[str, float],
) -> float:
    """``LexRankSummarizer.cosine_similarity``, operation for operation (same floats, last bits included)."""
    unique_words1 = frozenset(sentence1)
    unique_words2 = frozenset(sentence2)
    numerator = 0.0
    for term in unique_words1 & unique_words2:
        numerator += tf1[term] * tf2[term] * idf[term] ** 2
    denominator1 = sum((tf1[t] * idf[t]) ** 2 for t in unique_words1)
    denominator2 = sum((tf2[t] * idf[t]) ** 2 for t in unique_words2)
    if denominator1 > 0 and denominator2 > 0:
        return numerator / (math.sqrt(denominator1) * math.sqrt(denominator2))
    return 0.0


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
