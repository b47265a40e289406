"""The checks every model-written point passes before the chair sees it: plain code, no model.

A point is dropped when
  - it cites no message, or a message outside its item;
  - a number, date, version, URL or name in it appears in none of the messages it cites;
  - it attributes words or acts to someone who wrote none of the messages it cites;
  - it repeats a point already kept.
The checks are deliberately strict: a dropped faithful point costs a sentence of
the summary, a kept invented one costs the minutes their credibility.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from bot.pipeline.summarize.tokenize import get_stemmer, get_stop_words

NO_CITATION = "cites no message"
OUTSIDE = "cites a message outside its item"
UNSUPPORTED = "states a number, date, version, URL or name its messages do not contain"
MISATTRIBUTED = "attributes words or acts to someone who wrote none of its messages"
DUPLICATE = "repeats a kept point"
EMPTY = "has no text"

_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\"'\]]+", re.IGNORECASE)
_NUMBER = re.compile(r"(?<!\w)[vV]?\d(?:[\w.,:/+-]*\w)?")  # 42, 2.0.1-rc1, 2014-08-20, 15:00, v3, 1,000
_DIGITS = re.compile(r"\d+(?:[.,:/-]\d+)*")  # also inside words: "JDK9" supports "JDK 9"
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")  # letters only: names, words, "O'Neil"
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*|[-*•]\s+|[\"“(]\s*)$")
_POSSESSIVE = re.compile(r"['’]s$")


def _set_of(words: str) -> frozenset[str]:
    return frozenset(words.split())


# What usually opens a sentence of minutes without naming anything.
_OPENERS = _set_of(
    "consensus participants several most many some both others everyone nobody overall also however "
    "discussion members people contributors reviewers maintainers users developers there it this these"
)
# After a person's name, a word in one of these forms makes the name the one who says or does something.
_VERB_ENDINGS = ("ed", "es", "s")
_IRREGULAR = _set_of(
    "will would can could should may might must shall is was are were has had have did does do wrote said "
    "thinks thought took gave made felt found sent ran put set got came went saw knew told left kept began "
    "brought built chose drew forgot held led meant paid rode sought sold spoke stood taught understood won "
    "withdrew also still then later again"
)
_NOT_VERBS = _set_of("and or nor but of as this its his hers theirs")
_AFTER_BY = re.compile(r"\b(?:according to|(?:\w+ed|written|done|taken|given|made|sent|drawn)\s+by)\s+$",
                       re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Source:
    """One message of an item as the model saw it."""

    message_id: str  # as stored, in angle brackets
    author: str
    text: str  # the cleaned text (and subject) the model was given


@dataclass(frozen=True, slots=True)
class Point:
    text: str
    message_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    point: Point  # its citations normalised, deduplicated and in discussion order
    reason: str = ""  # why it was dropped; "" when it is kept
    detail: str = ""  # what was missing or wrong: for tests and debugging, never logged

    @property
    def kept(self) -> bool:
        return not self.reason


def normal_id(message_id: str) -> str:
    """"<a@b>", whether the model wrote "<a@b>", "a@b" or " <a@b> "."""
    bare = message_id.strip().strip("<>").strip()
    return f"<{bare}>" if bare else ""


def _words(text: str) -> set[str]:
    return {_POSSESSIVE.sub("", w).casefold() for w in _WORD.findall(text)}


def _numbers(text: str) -> set[str]:
    return {_normal_number(n) for n in _NUMBER.findall(text)}


def _normal_number(token: str) -> str:
    return token.casefold().lstrip("v").replace(",", "")


class _Message:
    """What a cited message can support, computed once per message."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.text = source.text.casefold()
        self.words = _words(source.text) | _words(source.author)
        self.numbers = _numbers(source.text) | {n.replace(",", "") for n in _DIGITS.findall(source.text)}

    @cached_property
    def stems(self) -> set[str]:
        stem = get_stemmer()
        return {stem(w) for w in self.words}


class Checker:
    """Checks the points of one item, in order; remembers the kept ones to catch repeats."""

    def __init__(self, sources: Sequence[Source], people: Iterable[str] = (), *, context: str = "") -> None:
        """`context`: what every point may draw on besides its messages (the item's title, shown above it)."""
        self._messages = {normal_id(s.message_id): _Message(s) for s in sources}
        self._context = _Message(Source("", "", context))
        self._order = {key: i for i, key in enumerate(self._messages)}
        self._people = tuple(dict.fromkeys([*people, *(s.author for s in sources)]))
        self._kept: list[frozenset[str]] = []

    def check(self, point: Point) -> Verdict:
        cited = sorted({normal_id(m) for m in point.message_ids if normal_id(m)},
                       key=lambda m: self._order.get(m, len(self._order)))
        point = Point(" ".join(point.text.split()), tuple(cited))
        if not point.text:
            return Verdict(point, EMPTY)
        if not cited:
            return Verdict(point, NO_CITATION)
        outside = [m for m in cited if m not in self._messages]
        if outside:
            return Verdict(point, OUTSIDE, outside[0])
        messages = [self._messages[m] for m in cited]
        # Attribution first: naming a participant who wrote none of the cited messages is that, not a missing name.
        wrong = self._misattributed(point.text, {m.source.author for m in messages})
        if wrong:
            return Verdict(point, MISATTRIBUTED, wrong)
        missing = _unsupported(point.text, [*messages, self._context])
        if missing:
            return Verdict(point, UNSUPPORTED, missing)
        key = frozenset(_words(point.text) - get_stop_words()) | frozenset(_numbers(point.text))
        if any(_similar(key, kept) for kept in self._kept):
            return Verdict(point, DUPLICATE)
        self._kept.append(key)
        return Verdict(point)

    def _misattributed(self, text: str, authors: set[str]) -> str:
        """The first person the point makes say or do something who wrote none of the cited messages."""
        for start, end, people in self._mentions(text):
            if not _acts(text, start, end):
                continue
            if not people & authors:
                return text[start:end]
        return ""

    def _mentions(self, text: str) -> list[tuple[int, int, set[str]]]:
        """Where the point names one of the item's people: (start, end, whom it may mean)."""
        found = []
        for person in self._people:
            for name in _name_forms(person):
                for match in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text):
                    found.append((match.start(), match.end(), person))
        merged: dict[tuple[int, int], set[str]] = {}
        for start, end, person in found:
            merged.setdefault((start, end), set()).add(person)
        # A full name wins over its first name inside it.
        spans = sorted(merged, key=lambda span: (span[0], -span[1]))
        result: list[tuple[int, int, set[str]]] = []
        for start, end in spans:
            if result and start < result[-1][1]:
                continue
            result.append((start, end, merged[(start, end)]))
        return result


def _name_forms(person: str) -> list[str]:
    """"Ann Example" -> the full name, then "Ann" and "Example"; a bare login ("jdoe") as it is."""
    parts = [p for p in person.split() if len(p) > 1 and p[0].isupper()]
    return [person, *(p for p in parts if p != person)] if person else []


def _acts(text: str, start: int, end: int) -> bool:
    """Whether the name at text[start:end] is the one who speaks or acts: "Ann proposed", "according to Ann"."""
    if _AFTER_BY.search(text[:start]):
        return True
    rest = text[end:]
    if rest[:2] in ("'s", "’s"):
        return False
    # Skip the rest of a list of names ("Ann, Bob and Carol agreed") and one adverb ("Ann quickly agreed").
    rest = re.sub(r"^(?:\s*(?:,|and)\s+[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)?)*", "", rest)
    match = re.match(r"\s+(?:[a-z]+ly\s+)?([a-z]+)\b", rest)
    if match is None or match[1] in _NOT_VERBS:
        return False
    verb = match[1]
    return verb in _IRREGULAR or (verb.endswith(_VERB_ENDINGS) and not verb.endswith("ss"))


def _unsupported(text: str, messages: Sequence[_Message]) -> str:
    """The first URL, number or name in `text` that none of `messages` contains; "" when all are there."""
    corpus = " ".join(m.text for m in messages)
    url: str
    for url in _URL.findall(text):
        bare = url.rstrip(".,;:!?").casefold().rstrip("/")
        if bare not in corpus:
            return url
    numbers = set().union(*(m.numbers for m in messages))
    number: str
    for number in _NUMBER.findall(_URL.sub(" ", text)):
        if _normal_number(number) not in numbers:
            return number
    words = set().union(*(m.words for m in messages))
    stop = get_stop_words()
    stem = get_stemmer()
    without_urls = _URL.sub(" ", text)
    for match in _WORD.finditer(without_urls):
        word = match.group(0)
        if word == "I" or not any(c.isupper() for c in word):
            continue
        folded = _POSSESSIVE.sub("", word).casefold()
        if folded in words:
            continue
        if _SENTENCE_START.search(without_urls[: match.start()]) and (
            folded in stop or folded in _OPENERS or any(stem(folded) in m.stems for m in messages)
        ):
            continue  # an ordinary word that opens a sentence, not a name
        return word
    return ""


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    """The same point in other words: most of their content words shared."""
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= 0.8
