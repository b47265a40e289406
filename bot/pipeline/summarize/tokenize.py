"""Offline language resources for sumy: tokenizer, stemmer and stop words.

sumy's own ``Tokenizer`` loads NLTK's punkt data, which is downloaded from the
internet; it must never be used here.  :class:`OfflineTokenizer` offers the same
interface (``language``, ``to_sentences``, ``to_words``) but splits sentences
with nupunkt, whose English model ships inside the package, and words with a
regular expression.  Words are stemmed with PyStemmer (the Snowball project's
own English stemmer, in C) rather than sumy's, which is NLTK's and imports all
of nltk, and nltk scipy.stats: over a second of start-up for every draft.  The
stop words are sumy's bundled English list, read straight from its package data.

nupunkt and the stemmer are imported inside functions so that importing
:mod:`bot.pipeline.summarize` stays cheap.  Every resource is loaded once per process
and then shared.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache
from importlib import resources
from typing import Protocol

LANGUAGE = "english"
_LANGUAGE_ALIASES = frozenset({"english", "en", "eng"})

# A word is a run of letters and digits; apostrophes are kept inside a word
# ("don't", "O'Brien") but never at its edges.
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")


class _SentenceModel(Protocol):
    def tokenize(self, text: str) -> list[str]: ...

    def clear_decision_cache(self) -> None: ...


@cache
def _sentence_model() -> _SentenceModel:
    """nupunkt's bundled English model, loaded once per process."""
    from nupunkt import load_default_model

    return load_default_model()


class OfflineTokenizer:
    """A drop-in for ``sumy.nlp.tokenizers.Tokenizer`` that never downloads."""

    def __init__(self, language: str = LANGUAGE) -> None:
        if language.lower() not in _LANGUAGE_ALIASES:
            raise ValueError(f"only English is supported, not {language!r}")
        self._language = LANGUAGE

    @property
    def language(self) -> str:
        return self._language

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        """Split a paragraph into stripped, non-empty sentences."""
        sentences = (s.strip() for s in _sentence_model().tokenize(paragraph))
        return tuple(s for s in sentences if s)

    def to_words(self, sentence: str) -> tuple[str, ...]:
        """The words of a sentence: letters and digits, inner apostrophes kept."""
        return tuple(_WORD.findall(sentence))


def forget_text() -> None:
    """Drop the sentence splitter's memo of the text it has split (once the model is loaded).

    nupunkt memoises its boundary decisions per context, up to 32,768 of them (about 13 MB): within
    a draft they repeat, across lists they do not, so a run drafting 10,000 lists only filled it.
    """
    if _sentence_model.cache_info().currsize:
        _sentence_model().clear_decision_cache()


@cache
def get_tokenizer() -> OfflineTokenizer:
    """The process-wide tokenizer (the nupunkt model loads on first use)."""
    return OfflineTokenizer()


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of *text* (split on blank lines), each on a single line."""
    paragraphs = (" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text))
    return [p for p in paragraphs if p]


def split_sentences(text: str) -> list[str]:
    """Sentences of *text*, paragraph by paragraph, whitespace collapsed."""
    tokenizer = get_tokenizer()
    return [s for p in split_paragraphs(text) for s in tokenizer.to_sentences(p)]


def count_words(text: str) -> int:
    """Words as a reader counts them: whitespace-separated chunks."""
    return len(text.split())


@cache
def get_stemmer() -> Callable[[str], str]:
    """The Snowball English stemmer, memoised (a thread repeats its words)."""
    import Stemmer  # PyStemmer

    stem: Callable[[str], str] = Stemmer.Stemmer(LANGUAGE).stemWord
    return lru_cache(maxsize=1 << 16)(stem)


@cache
def get_stop_words() -> frozenset[str]:
    """sumy's bundled English stop words, lower-cased as sumy's summarizers use them."""
    data = resources.files("sumy").joinpath(f"data/stopwords/{LANGUAGE}.txt").read_text(encoding="utf-8")
    return frozenset(word.rstrip().lower() for word in data.splitlines() if word)
