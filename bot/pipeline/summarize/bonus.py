"""How much concrete information a sentence carries, as a score adjustment.

Minutes are read for facts: measurements, dates, versions and decisions.  The
strategies rank sentences by centrality or word statistics only, so
:func:`information_bonus` nudges them: its result is added to the strategy's
score, which is normalised to ``[0, 1]`` (best sentence of the thread = 1).
It also holds down what minutes never quote even when cleaning let it through:
checksums, lines that announce a removed quote ("as follows:"), links,
contact details, logs and code (:func:`noise_penalty`).
:func:`position_bonus` adds what a chair knows about where the point of a
discussion is: in the opening message, and at the start of each reply.

Tune the weights below; each feature counts once per sentence.  They were
chosen for what minutes need, then checked (not fitted thread by thread) with
`make eval`.
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
CHATTER = -2.0  # only thanks and agreement ("That would be great, thanks."): never picked
ANNOUNCES = -0.15  # ends with ":", announcing a quote, list or link that is not shown
ANNOUNCES_ONLY = -2.0  # ... and says nothing else ("Good places to start:"): never picked
ANNOUNCES_WORDS = 8  # fewer words than this: ANNOUNCES_ONLY
FRAGMENT = -0.3  # opens mid-sentence ("whereas UDP ..."): the rest of it was code or a quote
CHECKSUM = -3.0  # a hash or checksum ("sha1: 9f70c385b6be..."): below any score, never picked
LINKS = -0.4  # links make up much of the sentence ("see http://...")
CONTACT = -0.4  # an e-mail address or phone number: a signature that slipped through
MACHINE = -3.0  # mostly tokens no one would say (logs, code, paths): never picked
OPENING = 0.2  # the message that opened the discussion says what is at stake (fading: see position_bonus)
LEAD = 0.2  # divided by (1 + position): a message's first sentences carry its point
SHORT_WORDS = 5
MACHINE_SHARE = 0.3  # see machine_share

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
_CHECKSUM = re.compile(r"\b(?:[0-9a-f]{32,}|[0-9a-f]{16,}(?=\W*$))\b|\b(?:sha-?(?:1|256|512)|md5)\b\s*:", re.I)
_LINK_EXTENSIONS = (".htm", ".php", ".cgi", ".zip", ".tar.gz", ".jar")
_LINK = re.compile(r"(?:https?|ftp)://\S+|www\.\S+|\S+@\S+\.\w+|\S+\.(?:html?|php|cgi|zip|tar\.gz|jar)\b", re.I)
_PHONE = re.compile(r"\+?\(?\d{1,4}\)?(?:[ .-]\d{2,4}){3,}")
_EDGE = "()[]{}<>\"'“”‘’.,;:!?*"
_SPOKEN = re.compile(r"[A-Za-z][a-z]*(?:['’][a-z]+)?|[A-Z]+s?")  # words, names, acronyms
_NUMBER_TOKEN = re.compile(r"[#~]?\d[\d.,:%/x-]*\w{0,3}")  # "18", "0.9.1", "40%", "16-byte", "#91"
_FRAGMENT = re.compile(r"(?:whereas|and|but|or|so|which|because|while|although|than|then)\b")  # lower case only
_OPERATOR = re.compile(r"[=<>{}\[\]()|;$\\`]+|[=!<>:+*/-]=|&&|\|\||->|=>")  # alone: "=", "[", "->"
_CODE_CHAR = re.compile(r"[_=<>{}()\[\];|\\$`]|\w\.\w+\.|[a-z][A-Z]|::|->")
_SALUTATION = re.compile(r"^(?:hi|hello|hey|dear|morning|greetings)\b(?:(?:\s+[\w'-]+){0,3}\s*[,!.:-])?\s*", re.I)
_PLEASANTRY = frozenset(
    {
        *("how", "are", "is", "was", "were", "you", "your", "it", "things", "going", "doing"),
        *("all", "everyone", "everybody", "folks", "guys", "team", "there", "anyone", "around"),
        *("the", "weekend", "week", "day", "today", "good", "morning", "afternoon", "evening"),
        *("what's", "whats", "up", "well", "hope", "fine", "ok", "okay"),
    }
)

_THANKS_FOR = re.compile(
    r"^(?:many |big )?(?:thanks|thank you|thx)(?: (?:a lot|so much|very much|again))? for (?:the|your|this|that|all"
    r"(?: the| your)?) [\w'-]+(?: [\w'-]+)?\s*(?:[,.!;:]+|$)\s*",
    re.IGNORECASE,
)
_CHATTER = _PLEASANTRY | frozenset(
    {
        *("thanks", "thank", "thx", "cheers", "much", "very", "so", "a", "lot", "again", "in", "advance", "for"),
        *("that", "this", "would", "will", "be", "great", "nice", "cool", "awesome", "perfect", "excellent", "sounds"),
        *("looks", "to", "me", "i", "we", "agree", "agreed", "yes", "sure", "indeed", "makes", "sense", "works"),
        *("lgtm",),
        *("really", "helpful", "useful", "appreciated", "appreciate", "it", "glad", "happy", "hear", "of", "course"),
    }
)


def information_bonus(sentence: str) -> float:
    """Score adjustment for *sentence*: positive for facts, negative for chatter."""
    text = sentence.strip()
    clues = Clues(text)
    bonus = 0.0
    if clues.digits and _MEASUREMENT.search(text):
        bonus += MEASUREMENT
    elif clues.digits:
        bonus += NUMBER
    if clues.may_date() and _DATE.search(text):
        bonus += DATE
    if clues.digits and _VERSION.search(text):
        bonus += VERSION
    if clues.may_decide() and _DECISION.search(text):
        bonus += DECISION
    if count_words(text) < SHORT_WORDS:
        bonus += SHORT
    if is_greeting_question(text):
        bonus += GREETING
    elif is_chatter(text):
        bonus += CHATTER
    return bonus + noise_penalty(text, clues)


class Clues:
    """Cheap substring tests that rule a pattern out before its (slow) regular expression runs.

    Each test is a necessary condition of its pattern, so skipping the pattern
    never changes a result; text that is not ASCII always runs the patterns
    (case-insensitive matching has non-ASCII twists that ``lower()`` lacks).
    """

    __slots__ = ("digits", "lower")

    def __init__(self, text: str) -> None:
        self.lower = text.lower() if text.isascii() else None
        self.digits = _NUMBER.search(text) is not None

    def has_any(self, needles: tuple[str, ...]) -> bool:
        return self.lower is None or any(needle in self.lower for needle in needles)

    def may_date(self) -> bool:
        return self.digits or self.has_any(("day", "tomorrow", "tonight", " week", " month", " year"))

    def may_decide(self) -> bool:
        return self.has_any(("agree", "decid", "decision", "consensus", "resolved", "will", "action"))

    def may_checksum(self, tokens: list[str]) -> bool:
        # A hash is a word of 16 or more hex digits: it sits inside one whitespace-separated token.
        return any(len(token) >= 16 for token in tokens) or self.has_any(("sha", "md5"))

    def may_link(self) -> bool:
        return self.has_any(("@", "://", "www.", *_LINK_EXTENSIONS))


def position_bonus(message: int, position: int) -> float:
    """Score adjustment for where a sentence stands: message index in the discussion, index in its message.

    The opening message states the topic a chair's minutes start from, and
    replies lead with their answer, so early sentences are preferred.
    """
    # The opening bonus fades too, so a long first post does not crowd out the answers.
    opening = OPENING / (1 + position / 2) if message == 0 else 0.0
    return opening + LEAD / (1 + position)


def noise_penalty(sentence: str, clues: Clues | None = None) -> float:
    """Penalty for what no minutes quote: checksums, links, contact lines, logs and code."""
    clues = clues or Clues(sentence)
    penalty = 0.0
    if sentence.endswith(":"):
        penalty += ANNOUNCES_ONLY if count_words(sentence) < ANNOUNCES_WORDS else ANNOUNCES
    if _FRAGMENT.match(sentence):
        penalty += FRAGMENT
    tokens = sentence.split()
    if clues.may_checksum(tokens) and _CHECKSUM.search(sentence):
        penalty += CHECKSUM
    has_link = clues.may_link()
    links = sum(len(m) for m in _LINK.findall(sentence)) if has_link else 0
    if links and links * 3 >= len(sentence):
        penalty += LINKS
    if (clues.digits and _PHONE.search(sentence)) or ("@" in sentence and has_link and _LINK.search(sentence)):
        penalty += CONTACT
    if len(tokens) >= 4 and machine_share(tokens) >= MACHINE_SHARE:
        penalty += MACHINE
    return penalty


def machine_share(tokens: list[str]) -> float:
    """How much a sentence reads like a log or code, from 0 (prose) up.

    Code and log tokens ("notify=true", "t.tx_ring") count fully, a bare
    operator or bracket ("=", "[") twice; tokens that are not words either
    (paths, ids) count half. Numbers, versions and "(#91)" are neither:
    minutes are full of them.
    """
    machine = unspoken = 0
    for token in tokens:
        core = token.strip(_EDGE)
        if core.isascii() and core.isalpha() and (core.islower() or core.isupper() or core.istitle()):
            continue  # a plain word: the common case, and spoken by every test below
        if _OPERATOR.fullmatch(token):
            machine += 2
        elif _CODE_CHAR.search(core):
            machine += 1
        elif not (_SPOKEN.fullmatch(core) or _NUMBER_TOKEN.fullmatch(core) or "-" in core):
            unspoken += 1
    return (machine + unspoken / 2) / len(tokens)


def is_chatter(sentence: str) -> bool:
    """Thanks and agreement with nothing else in it ("That would be great, thanks!", "Sounds good to me.")."""
    rest = _THANKS_FOR.sub("", sentence.strip(), count=1)  # "Thanks for the clarification, ..."
    words = re.findall(r"[\w']+", rest.casefold())
    return (bool(words) or rest != sentence.strip()) and all(word in _CHATTER for word in words)


def is_greeting_question(sentence: str) -> bool:
    """A question made only of a salutation and pleasantries ("Hi all, how are you?")."""
    text = sentence.strip()
    if not text.endswith("?"):
        return False
    rest = _SALUTATION.sub("", text, count=1)
    words = re.findall(r"[\w']+", rest.casefold())
    return all(word in _PLEASANTRY for word in words)
