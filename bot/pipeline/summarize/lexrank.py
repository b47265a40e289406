"""A vectorised LexRank whose scores are bit-for-bit those of sumy's LexRankSummarizer.

sumy's ``LexRankSummarizer`` compares every pair of sentences in pure Python,
which is quadratic in sentences *and* linear in words per pair: a 900-sentence
thread takes seconds.  Here the same quantities are computed with array code:

* term frequencies ``tf = count / max count in the sentence`` and
  ``idf = log(N / (1 + document frequency))`` (``math.log``, as sumy does),
* a sparse TF-IDF matrix ``W``; the idf-modified cosine of every pair is
  ``(W @ W.T) / (|w_i| |w_j|)``, where ``W @ W.T`` is summed term by term over
  the sentences sharing each term (work in the sum of squared document
  frequencies, not in sentences squared times vocabulary),
* the graph keeps pairs with cosine ``> threshold`` (0.1), each row divided by
  its degree, exactly as sumy builds its dense matrix,
* the same power method as sumy (``epsilon`` 0.1) on the same dense matrix, so
  the scores are bit-for-bit sumy's and so are its tie-breaks.

The cosine is summed in a different order than sumy's, so it may differ in
the last bits; pairs whose cosine lies within ``THRESHOLD_BAND`` of the
threshold are therefore recomputed with sumy's own formula before comparing.

This module needs numpy only: not sumy (whose stemmer module imports nltk, and
nltk scipy.stats: over a second of start-up), nor scipy, whose sparse product
would save a few milliseconds a thread but costs over 100 ms to import.  The sumy plug-in
built on it is :class:`bot.pipeline.summarize.sumy_lexrank.FastLexRankSummarizer`.
Memory is O(N^2) for the graph, as in sumy.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

# One thread's matrices are small: BLAS threads cost more than they save here, and OpenBLAS's
# busy-wait, so the two processes of a draft (bot.parallel) would fight them for both cores (a
# month's summaries took 20-40% longer). Set before numpy loads OpenBLAS; a user's setting wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402 - after the thread settings above
import numpy.typing as npt  # noqa: E402

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
THRESHOLD = 0.1  # sumy's defaults
EPSILON = 0.1
THRESHOLD_BAND = 1e-9
PAIRS_PER_STEP = 1 << 20  # term-sharing pairs summed at once: bounds memory on huge threads
DENSE_TERM = 256  # a term in more sentences than this adds its outer product in place (no index arrays)


@dataclass(frozen=True, slots=True)
class _TermWeights:
    """The TF-IDF weights of a thread's sentences, as sumy computes them."""

    sentences: Sequence[Sequence[str]]  # stems (stop words removed), per sentence
    vocabulary: dict[str, int]  # term -> column
    frequency: IntArray  # sentences holding each term (document frequency), by column
    rows: IntArray  # the non-zero entries of W (N x |terms|, tf * idf), by sentence
    cols: IntArray
    values: FloatArray

    def idf(self, term: str) -> float:
        """log(N / (1 + sentences holding the term)), with math.log as sumy has it."""
        return math.log(len(self.sentences) / (1 + int(self.frequency[self.vocabulary[term]])))


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
    """tf = count / the sentence's highest count; idf = log(N / (1 + df)); weight = tf * idf."""
    vocabulary: dict[str, int] = {}
    terms = np.fromiter((vocabulary.setdefault(t, len(vocabulary)) for words in sentences for t in words),
                        dtype=np.intp)
    count, size = len(sentences), max(len(vocabulary), 1)
    lengths = np.fromiter(map(len, sentences), dtype=np.intp, count=count)
    keys, counts = np.unique(np.repeat(np.arange(count), lengths) * size + terms, return_counts=True)
    rows, cols = np.divmod(keys, size)
    highest = np.zeros(count, dtype=np.intp)
    np.maximum.at(highest, rows, counts)
    frequency = np.bincount(cols, minlength=len(vocabulary))
    idf = np.array([math.log(count / (1 + df)) for df in frequency.tolist()])
    values = counts / highest[rows] * idf[cols]
    return _TermWeights(sentences, vocabulary, frequency, rows, cols, values)


def _similar_pairs(weights: _TermWeights, threshold: float) -> tuple[IntArray, IntArray]:
    """(rows, cols) of the sentence pairs whose idf-modified cosine exceeds *threshold*."""
    count = len(weights.sentences)
    dots = _dot_products(weights).ravel()
    norms = np.sqrt(dots[:: count + 1])  # the diagonal: each sentence with itself
    # A pair sharing no term has cosine 0, here and in sumy: only a negative threshold keeps it.
    pairs = np.arange(count * count) if threshold < 0 else np.flatnonzero(dots)
    rows, cols = np.divmod(pairs, count)
    denominators = norms[rows] * norms[cols]
    shared = dots[pairs]
    cosine = np.divide(shared, denominators, out=np.zeros_like(shared), where=denominators > 0)
    above = cosine > threshold
    # Summed in another order than sumy's, a cosine may differ in the last bits: decide those near
    # the threshold with sumy's own arithmetic.
    for k in np.flatnonzero((np.abs(cosine - threshold) <= THRESHOLD_BAND) & (shared != 0)).tolist():
        above[k] = _exact_cosine(weights, int(rows[k]), int(cols[k])) > threshold
    return rows[above], cols[above]


def _dot_products(weights: _TermWeights) -> FloatArray:
    """``W @ W.T`` (N x N): for each term, every pair of sentences holding it adds the product of their weights."""
    count = len(weights.sentences)
    order = np.argsort(weights.cols, kind="stable")
    rows, values = weights.rows[order], weights.values[order]
    frequency = np.bincount(weights.cols)
    frequency = frequency[frequency > 0]  # sentences per term, terms in column order
    first = np.cumsum(frequency) - frequency  # each term's first entry in `rows`
    products = np.zeros((count, count))
    for term in np.flatnonzero(frequency > DENSE_TERM).tolist():
        holders = slice(int(first[term]), int(first[term] + frequency[term]))
        products[np.ix_(rows[holders], rows[holders])] += np.outer(values[holders], values[holders])
    light = np.flatnonzero(frequency <= DENSE_TERM)
    pairs_so_far = np.cumsum(frequency[light] ** 2)
    flat = products.reshape(-1)  # a view: the light terms add into the same matrix
    start = 0
    while start < len(light):
        done = pairs_so_far[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(pairs_so_far, done + PAIRS_PER_STEP, side="right")))
        flat += _term_pair_sums(rows, values, first[light[start:stop]], frequency[light[start:stop]], count)
        start = stop
    return products


def _term_pair_sums(rows: IntArray, values: FloatArray, first: IntArray, frequency: IntArray,
                    count: int) -> FloatArray:
    """The flattened N x N sums over these terms' sentence pairs (entry i*N + j for sentences i and j)."""
    term_start = np.repeat(first, frequency)  # for each of the terms' entries in `rows`: its term's first
    entries = term_start + _counting(frequency)
    per_entry = np.repeat(frequency, frequency)  # each entry pairs with every entry of its term
    left = np.repeat(entries, per_entry)
    right = np.repeat(term_start, per_entry) + _counting(per_entry)
    sums = np.bincount(rows[left] * count + rows[right], weights=values[left] * values[right],
                       minlength=count * count)
    return sums.astype(np.float64, copy=False)  # float64 already: weights make bincount sum floats


def _exact_cosine(weights: _TermWeights, i: int, j: int) -> float:
    """The cosine of sentences i and j from sumy's own values, summed in sumy's order."""
    first, second = weights.sentences[i], weights.sentences[j]
    idf = {term: weights.idf(term) for term in {*first, *second}}
    return sumy_cosine(first, second, _tf(first), _tf(second), idf)


def _tf(words: Sequence[str]) -> dict[str, float]:
    counts = Counter(words)
    highest = max(counts.values(), default=1)
    return {term: n / highest for term, n in counts.items()}


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


def _counting(sizes: IntArray) -> IntArray:
    """0, 1, ..., n-1 for each n in `sizes`, concatenated."""
    return np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)


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
