"""Subject lines: comparison keys, human titles and patch markers.

Mailing-list subjects carry noise in front of the topic: reply and forward
prefixes in many languages, list tags the list server adds, and patch markers
from git send-email. Lists add their tag in front of whatever is there, so the
noise comes interleaved ("[list] Re: [list] [PATCH v2] x"); everything here
reads the leading noise with one tokenizer, `_read_head`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Reply/forward prefixes of common clients: English, German (AW, WG), Nordic
# (SV, VS), Dutch (Antw), Polish (Odp), Italian (RIF), French (TR), Portuguese
# (RES, ENC) and Chinese; with optional counters as in "Re[2]:", "Re(2):", "Re^2:".
_PREFIX = re.compile(
    r"(?:re|fwd?|aw|sv|antw|wg|vs|odp|rif|tr|res|enc|回复|回覆|答复|转发)"
    r"\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]",
    re.IGNORECASE,
)
_TAG = re.compile(r"\[([^\[\]]*)\]")
_SPACE = re.compile(r"\s+")
# Old clients mark forwards at the end instead: "topic (fwd)".
_FWD_SUFFIX = re.compile(r"\s*\(fwd\)\s*$", re.IGNORECASE)
# Version markers a person would not put in a title: "(v2)", "[v3]", "v3:".
_VERSION_ANYWHERE = re.compile(r"\s*[(\[]\s*v\d+\s*[)\]]", re.IGNORECASE)
_VERSION_LEADING = re.compile(r"^v\d+\s*:\s*", re.IGNORECASE)
_TRAILING_JUNK = " \t:;,-–—|"

_PATCH_WORD = re.compile(r"patch(?:v(\d+))?", re.IGNORECASE)
_VERSION_WORD = re.compile(r"v(\d+)", re.IGNORECASE)
_COUNTER_WORD = re.compile(r"(\d+)/(\d+)")

NO_SUBJECT = "(no subject)"


@dataclass(frozen=True, slots=True)
class PatchInfo:
    """Where a mail sits in a patch series, from its "[PATCH vN i/n]" marker."""

    version: int
    index: int
    total: int
    rfc: bool
    title: str


@dataclass(frozen=True, slots=True)
class _Head:
    """The leading noise of a subject, and the topic after it."""

    tags: tuple[str, ...]  # bracket contents, as written, in order
    reply: bool  # a reply/forward prefix was seen
    rest: str


def _read_head(subject: str) -> _Head:
    """Consume reply prefixes and bracket tags, in any order, from the start."""
    tags: list[str] = []
    reply = False
    pos = 0
    # Match at positions instead of slicing, so "Re: " * 10_000 stays linear.
    while True:
        while pos < len(subject) and subject[pos].isspace():
            pos += 1
        if match := _PREFIX.match(subject, pos):
            reply = True
        elif match := _TAG.match(subject, pos):
            tags.append(match.group(1))
        else:
            break
        pos = match.end()
    rest = subject[pos:]
    if _FWD_SUFFIX.search(rest):
        reply = True
        rest = _FWD_SUFFIX.sub("", rest)
    return _Head(tuple(tags), reply, rest)


def _collapse(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _words(tag: str) -> list[str]:
    return tag.replace(",", " ").split()


def _is_patch_tag(tag: str) -> bool:
    return any(_PATCH_WORD.fullmatch(word) for word in _words(tag))


def is_reply(subject: str) -> bool:
    """True for "Re: x", "[list] Fwd: x", "x (fwd)" and the like."""
    return _read_head(subject).reply


def normalize_subject(subject: str) -> str:
    """A key for comparing subjects: "Re: [list] Topic" == "topic".

    Patch markers stay in the key: "[PATCH v2 1/3] x" and "[PATCH v3 1/3] x"
    are different mails, and a "Re:" to one must not join the other.
    """
    head = _read_head(unicodedata.normalize("NFKC", subject))
    kept = [f"[{_collapse(tag)}]" for tag in head.tags if _is_patch_tag(tag)]
    return _collapse(" ".join([*kept, head.rest])).casefold()


def clean_title(subject: str) -> str:
    """A title a person would write: no prefixes, tags or version markers."""
    head = _read_head(subject)
    title = _VERSION_ANYWHERE.sub("", head.rest)
    title = _VERSION_LEADING.sub("", _collapse(title))
    title = _collapse(title).strip(_TRAILING_JUNK)
    if title:
        return title
    # Nothing but noise: a bare "[PATCH]" still says more than "(no subject)",
    # a bare "Re:" does not.
    original = _collapse(subject)
    return original if head.tags and original else NO_SUBJECT


def subject_tags(subject: str) -> tuple[str, ...]:
    """The leading bracket tags, lowercased: ("list", "patch v3 0/7")."""
    head = _read_head(subject)
    tags = (_collapse(tag).casefold() for tag in head.tags)
    return tuple(tag for tag in tags if tag)


def patch_info(subject: str) -> PatchInfo | None:
    """Parse "[RFC PATCH net-next v2 01/12] title"; None unless a patch.

    Replies to a patch ("Re: [PATCH 2/3] x") are parsed too, so a review
    thread can be placed in its series; use `is_reply` to tell them apart.
    """
    head = _read_head(subject)
    if not any(_is_patch_tag(tag) for tag in head.tags):
        return None
    version, index, total, rfc = 1, 1, 1, False
    # Markers may be split over tags ("[RFC][PATCH v2]") and in any order.
    for word in (w for tag in head.tags for w in _words(tag)):
        if match := _PATCH_WORD.fullmatch(word):
            version = int(match.group(1)) if match.group(1) else version
        elif match := _VERSION_WORD.fullmatch(word):
            version = int(match.group(1))
        elif match := _COUNTER_WORD.fullmatch(word):
            index, total = int(match.group(1)), int(match.group(2))
        elif word.casefold() == "rfc":
            rfc = True
    return PatchInfo(version, index, total, rfc, clean_title(subject))
