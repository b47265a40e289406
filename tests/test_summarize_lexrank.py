"""FastLexRankSummarizer picks exactly what sumy's LexRankSummarizer picks.

Both run on the same documents with the same tokenizer, stemmer and stop
words; we compare the full ranking sumy's ``_get_best_sentences`` sorts
(sentence order and rating, bit for bit) and the selections it returns.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence  # type: ignore[import-untyped]
from sumy.nlp.stemmers import Stemmer  # type: ignore[import-untyped]
from sumy.parsers.plaintext import PlaintextParser  # type: ignore[import-untyped]
from sumy.summarizers.lex_rank import LexRankSummarizer  # type: ignore[import-untyped]
from sumy.utils import get_stop_words  # type: ignore[import-untyped]

from bot.pipeline.summarize.sumy_lexrank import FastLexRankSummarizer
from bot.pipeline.summarize.tokenize import get_tokenizer

SUBJECTS = [
    "we",
    "the patch",
    "this change",
    "the new driver",
    "our CI",
    "the benchmark",
    "Alice",
    "the release",
    "the kernel",
    "the parser",
    "nobody",
    "the test suite",
]
VERBS = [
    "fixes",
    "breaks",
    "improves",
    "slows down",
    "reworks",
    "measures",
    "reviews",
    "reverts",
    "tests",
    "documents",
    "ignores",
    "duplicates",
]
OBJECTS = [
    "the memory leak",
    "UDP throughput",
    "the build on arm64",
    "latency under load",
    "the config loader",
    "the API docs",
    "error handling",
    "the TLS handshake",
    "packet loss",
    "the scheduler",
    "the mailing list archive",
    "IPv6 support",
]
TAILS = [
    "",
    " on Linux",
    " in v2",
    " for the 0.9.1 release",
    " by about 18 MB/s",
    " after the merge",
    " since last week",
    " with the default options",
    " when the cache is cold",
    " as we agreed",
    " again and again",
]
CHATTER = [
    "Thanks a lot.",
    "Sounds good to me.",
    "+1 from me.",
    "It is what it is.",
    "Why not?",
    "I am not sure about that.",
    "Any thoughts?",
    "Ok.",
    "...",
    "Hi all,",
]
TINY_VOCABULARY = ["patch", "test", "build", "fix", "leak", "merge"]


pytestmark = pytest.mark.usefixtures("offline")


def _sentence(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.12:
        return rng.choice(CHATTER)
    if roll < 0.2:
        return " ".join(rng.choices(TINY_VOCABULARY, k=rng.randint(1, 4))).capitalize() + "."
    text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}"
    if rng.random() < 0.3:
        text += f", and {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    return text[0].upper() + text[1:] + rng.choice(".!?.")


def _sentences(rng: random.Random, count: int) -> list[str]:
    result: list[str] = []
    for _ in range(count):
        if result and rng.random() < 0.05:
            result.append(rng.choice(result))  # the same sentence quoted again
        else:
            result.append(_sentence(rng))
    return result


def _document(sentences: list[str]) -> Any:
    tokenizer = get_tokenizer()
    return ObjectDocumentModel([Paragraph([Sentence(s, tokenizer) for s in sentences])])


def _summarizers() -> tuple[Any, Any]:
    stemmer, stop_words = Stemmer("english"), get_stop_words("english")
    reference, fast = LexRankSummarizer(stemmer), FastLexRankSummarizer(stemmer)
    reference.stop_words = fast.stop_words = stop_words
    return reference, fast


def _ranking(summarizer: Any, document: Any) -> tuple[list[int], list[float]]:
    """The (order, rating) list sumy's _get_best_sentences sorts, best first."""
    infos: list[Any] = []

    def record(ranked: list[Any]) -> list[Any]:
        infos.extend(ranked)
        return ranked

    summarizer(document, record)
    return [i.order for i in infos], [float(i.rating) for i in infos]


def assert_equivalent(document: Any) -> None:
    """Same ranking, bit-identical ratings, same selections for several counts."""
    reference, fast = _summarizers()
    expected_order, expected_ratings = _ranking(reference, document)
    order, ratings = _ranking(fast, document)
    assert order == expected_order
    assert np.array_equal(ratings, expected_ratings, equal_nan=True)
    # What sumy's __call__ returns for other counts, from the ratings sumy
    # computed (running sumy's quadratic loops once per count is too slow).
    sentences = document.sentences
    by_sentence = {sentences[o]: r for o, r in zip(expected_order, expected_ratings, strict=True)}
    for count in (1, 2, 3, 5, 10, "20%", "50%"):
        expected = LexRankSummarizer._get_best_sentences(sentences, count, by_sentence)
        assert fast(document, count) == expected


def _generated_documents() -> Iterator[tuple[int, list[str]]]:
    rng = random.Random(20240501)
    for seed in range(220):
        size = rng.choice([rng.randint(3, 12), rng.randint(3, 40), rng.randint(3, 150)])
        yield seed, _sentences(random.Random(seed), size)


def test_generated_documents_match_sumy() -> None:
    checked = 0
    for _seed, sentences in _generated_documents():
        assert 3 <= len(sentences) <= 150
        assert_equivalent(_document(sentences))
        checked += 1
    assert checked >= 200


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(
    "text",
    [
        "Only one sentence here.",
        "Same words here. Same words here. Same words here.",
        "It is what it is. It was. Is it?",  # stop words only: sumy rates NaN
        "Alpha beta. Gamma delta. Epsilon zeta. Eta theta.",  # no shared words: all tie
        "Patch fixes leak. Leak fixes patch. Fixes patch leak. Other topic entirely.",
        "WEEKLY STATUS\nThe build is green again. The build was red on Monday.\n\n"
        "We agreed to ship v2 next week. Shipping v2 next week needs a green build.\n\n"
        "ACTION ITEMS\nBob will write the release notes. Alice will tag the release.",
    ],
)
def test_hand_written_documents_match_sumy(text: str) -> None:
    assert_equivalent(PlaintextParser.from_string(text, get_tokenizer()).document)


def test_empty_document() -> None:
    reference, fast = _summarizers()
    document = _document([])
    assert fast(document, 3) == reference(document, 3) == ()


def test_large_document_matches_sumy() -> None:
    document = _document(_sentences(random.Random(900), 400))
    assert_equivalent(document)
    reference, fast = _summarizers()
    assert fast(document, 7) == reference(document, 7)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(st.sampled_from([*TINY_VOCABULARY, "the", "a", "is"]), min_size=1, max_size=6),
        min_size=3,
        max_size=40,
    )
)
def test_tie_heavy_documents_match_sumy(sentences: list[list[str]]) -> None:
    """Few distinct words: many sentences share vectors, so ratings tie exactly."""
    assert_equivalent(_document([" ".join(words).capitalize() + "." for words in sentences]))


def test_threshold_on_a_pair_cosine_matches_sumy() -> None:
    """Cosines equal to the threshold are decided as sumy decides them."""
    document = _document(_sentences(random.Random(7), 60))
    reference, fast = _summarizers()
    words = [reference._to_words_set(s) for s in document.sentences]
    tf, idf = reference._compute_tf(words), reference._compute_idf(words)
    cosines = sorted(
        {
            reference.cosine_similarity(words[i], words[j], tf[i], tf[j], idf)
            for i in range(len(words))
            for j in range(i + 1, len(words))
        }
        - {0.0}
    )
    for threshold in cosines[:: max(1, len(cosines) // 25)]:
        reference.threshold = fast.threshold = threshold
        assert _ranking(fast, document) == _ranking(reference, document)


@pytest.mark.parametrize("dense_term", [0, 3, 10**9])
def test_both_ways_of_summing_shared_terms_match_sumy(dense_term: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Terms held by many sentences add an outer product in place, the others go through bincount."""
    from bot.pipeline.summarize import lexrank

    monkeypatch.setattr(lexrank, "DENSE_TERM", dense_term)
    assert_equivalent(_document(_sentences(random.Random(31), 120)))
