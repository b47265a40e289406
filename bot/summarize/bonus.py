"""How much concrete information a sentence carries, as a score adjustment.

Minutes are read for facts: measurements, dates, versions and decisions.  The
strategies rank sentences by centrality or word statistics only, so
:func:`information_bonus` nudges them: its result is added to the strategy's
score, which is normalised to ``[0, 1]`` (best sentence of the thread = 1).

Tune the weights below; each feature counts once per sentence.
"""

from __future__ import annotations

import re

from .tokenize import count_words

MEASUREMENT = 0.25  # a number with a unit: "18 MB/s", "3.5 s", "40%", "2x"
NUMBER = 0.10  # any other number: "3 reviewers", "issue #42" (not with MEASUREMENT)
DATE = 0.15  # "2024-05-01", "Jan 5", "Monday", "next week"
VERSION = 0.15  # "v2", "v0.9", "0.9.1", "version 3"
DECISION = 0.25  # "we agreed", "decided", "will", "ACTION"
SHORT = -0.25  # fewer than SHORT_WORDS words
GREETING = -0.5  # a question that is only a greeting: "Hi Bob, how are you?"
SHORT_WORDS = 5

_UNIT = (
    r"%|x\b|[kKMGTP]i?B(?:/s|ps)?\b|[kMG]?bps\b|[kMG]?Hz\b|[nµu]s\b|ms\b|s\b"
    r"|secs?\b|seconds?\b|mins?\b|minutes?\b|h\b|hours?\b|days?\b|weeks?\b|months?\b"
    r"|bytes?\b|lines?\b|rps\b|qps\b|fps\b|ops\b|req(?:uests)?/s\b|°C"
)
_MEASUREMENT = re.compile(rf"\b\d+(?:[.,]\d+)*\s?(?:{_UNIT})")
_NUMBER = re.compile(r"\d")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
    rf"|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}(?!\w)"
    r"|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b"
    r"|\b(?:today|tomorrow|yesterday|tonight)\b|\b(?:next|last|this) (?:week|month|year)\b",
    re.IGNORECASE,
)
_VERSION = re.compile(r"\bv\d+(?:\.\d+)*\b|\b\d+\.\d+\.\d+\b|\b(?:version|release) \d+(?:\.\d+)*\b", re.IGNORECASE)
_DECISION = re.compile(
    r"(?i:\b(?:agreed|agree|decided|decision|consensus|resolved|will)\b|\baction items?\b)"
    r"|\bACTION\b|^Action:"
)
_SALUTATION = re.compile(r"^(?:hi|hello|hey|dear|morning|greetings)\b(?:(?:\s+[\w'-]+){0,3}\s*[,!.:-])?\s*", re.I)
_PLEASANTRY = frozenset(
    {
        *("how", "are", "is", "was", "were", "you", "your", "it", "things", "going", "doing"),
        *("all", "everyone", "everybody", "folks", "guys", "team", "there", "anyone", "around"),
        *("the", "weekend", "week", "day", "today", "good", "morning", "afternoon", "evening"),
        *("what's", "whats", "up", "well", "hope", "fine", "ok", "okay"),
    }
)


def information_bonus(sentence: str) -> float:
    """Score adjustment for *sentence*: positive for facts, negative for chatter."""
    text = sentence.strip()
    bonus = 0.0
    if _MEASUREMENT.search(text):
        bonus += MEASUREMENT
    elif _NUMBER.search(text):
        bonus += NUMBER
    if _DATE.search(text):
        bonus += DATE
    if _VERSION.search(text):
        bonus += VERSION
    if _DECISION.search(text):
        bonus += DECISION
    if count_words(text) < SHORT_WORDS:
        bonus += SHORT
    if is_greeting_question(text):
        bonus += GREETING
    return bonus


def is_greeting_question(sentence: str) -> bool:
    """A question made only of a salutation and pleasantries ("Hi all, how are you?")."""
    text = sentence.strip()
    if not text.endswith("?"):
        return False
    rest = _SALUTATION.sub("", text, count=1)
    words = re.findall(r"[\w']+", rest.casefold())
    return all(word in _PLEASANTRY for word in words)
