"""Which message a stored message is: its storage key, read from the raw bytes without parsing them.

The main process of an import does not parse mail (its workers do), so all of
this works on the bytes of the header block and body.

- A valid Message-ID (one `<local@domain>` without spaces) is the key.
- A missing, empty or malformed one is replaced by a key from the bytes' hash.
- A second message with a Message-ID already stored, but other content (see
  :func:`fingerprint`), is kept too, under a key derived from its Message-ID and
  its content, so a re-import finds it again; it keeps its own Message-ID for
  threading (`header_id`), as public-inbox does.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MESSAGE_ID_LINE = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_ANGLE_ID = re.compile(rb"<([^<>\s]{1,900})>")
_FOLDED_VALUE = re.compile(rb"[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*")
_MAX_ID = 900  # a key stays well inside the message_id column (998), derived or not
# What a message says, as opposed to how it travelled: Received, List-*, Return-Path and the like are left out.
_CONTENT_HEADERS = (b"from:", b"date:", b"subject:")
_WHITESPACE = b" \t\r\n\v\f"
# What a list adds to the copy it relays, so that a cross-post read from two lists stays one message: a
# one-word subject tag ("[driftwood-devel]"), but not an author's own marker ("[PATCH]", "[RFC]"; a
# "[PATCH v2 1/3]" has spaces and stays anyway), and Mailman's footer: a few lines after a line of
# underscores, the last one (Outlook separates a reply from the quoted original by such a line too).
_LIST_TAG = re.compile(rb"\[(?!(?:PATCH|RFC|ANN|ANNOUNCE|VOTE|RESULT|DISCUSS|PROPOSAL|WIP|RFT|RESEND|SECURITY)\])"
                       rb"[^\]\s]{1,64}\]", re.IGNORECASE)
_LIST_FOOTER = re.compile(rb"_{20,}[ \t]*\r?$", re.MULTILINE)
_FOOTER_RULE = b"_" * 20
_FOOTER_LINES = 10  # Mailman's is three or four; a quoted original after Outlook's line is longer


def _head(raw: bytes) -> tuple[bytes, bytes]:
    """The header block and the body (the whole as headers when there is no blank line)."""
    end, size = raw.find(b"\n\n"), 2
    crlf = raw.find(b"\r\n\r\n", 0, end + 2 if end >= 0 else len(raw))  # only one that comes first matters
    if crlf >= 0:
        end, size = crlf, 4
    if end < 0:
        return raw[:65536], b""
    return raw[:end], raw[end + size :]


def _header_at(head: bytes, folded: bytes, name: bytes) -> int:
    """Where header `name` (lower case, with its colon) starts in `head`, or -1: a case-folded find at line starts."""
    start = folded.find(name)
    while start > 0 and head[start - 1] != 0x0A:  # not at a line start ("X-Original-Message-ID:", a body line)
        start = folded.find(name, start + 1)
    return start


def find_message_id_header(head: bytes, folded: bytes | None = None) -> re.Match[bytes] | None:
    """`MESSAGE_ID_LINE.search(head)`, found with a case-folded find first: a regex tried at every line is slow."""
    folded = head.lower() if folded is None else folded  # lower(): ASCII-only, as IGNORECASE is for bytes
    start = _header_at(head, folded, b"message-id:")
    return MESSAGE_ID_LINE.match(head, start) if start >= 0 else None


def header_message_id(head: bytes, folded: bytes | None = None) -> str | None:
    """The header block's Message-ID if it is a valid one; None when missing, empty or malformed."""
    match = find_message_id_header(head, folded)
    if match is None:
        return None
    angle = _ANGLE_ID.search(match.group(1))
    value = angle.group(1) if angle else match.group(1).strip()
    if len(value) >= _MAX_ID or b"@" not in value or re.search(rb"[\s<>]", value):
        return None  # no "@", spaces, a lone ">": not an identifier of anything
    return "<" + value.decode("ascii", "replace") + ">"


def content_key(raw: bytes) -> str:
    """The key of a message without a valid Message-ID: from its bytes' hash."""
    return f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@digestbot.invalid>"


def derived_key(message_id: str, print_: str) -> str:
    """The key of a message whose valid `message_id` another message has: the same one for the same content."""
    return f"<dup-{print_[:16]}.{message_id[1:-1]}>"


def message_id_of(raw: bytes) -> str:
    """The key a message is stored under unless its Message-ID is taken: that Message-ID, or a hash key."""
    return header_message_id(_head(raw)[0]) or content_key(raw)


def fingerprint(raw: bytes) -> str:
    """What a message says: From, Date, Subject and body, without whitespace.

    Transport headers do not count, nor what a list adds to its copy (a subject tag, a footer).
    """
    head, body = _head(raw)
    return _fingerprint(head, head.lower(), body)


def _fingerprint(head: bytes, folded: bytes, body: bytes) -> str:
    parts = []
    for name in _CONTENT_HEADERS:
        start = _header_at(head, folded, name)
        value = _FOLDED_VALUE.match(head, start + len(name)) if start >= 0 else None
        text = value.group(0) if value else b""
        if name == b"subject:":
            text = _LIST_TAG.sub(b"", text)
        parts.append(text.translate(None, _WHITESPACE))
    body = _without_list_footer(body)
    parts.append(body.translate(None, _WHITESPACE))  # dropped, not collapsed: as telling, and several times faster
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def _without_list_footer(body: bytes) -> bytes:
    """`body` up to its last line of underscores, if what follows it is short enough to be a list's footer."""
    end = len(body)
    while (found := body.rfind(_FOOTER_RULE, 0, end)) >= 0:
        start = body.rfind(b"\n", 0, found) + 1
        if _LIST_FOOTER.match(body, start):  # a line of nothing else
            return body[:start] if body.count(b"\n", found) <= _FOOTER_LINES else body
        end = start  # underscores inside a line of text: look before it
    return body


@dataclass(frozen=True, slots=True)
class Identity:
    """What storing a message needs to know of it."""

    header_id: str | None  # the valid Message-ID of its header, if any
    key: str  # the key it is stored under unless another message has taken it
    fingerprint: str

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys it may be stored under, in the order they are tried."""
        if self.header_id is None:
            return (self.key,)
        return (self.key, derived_key(self.header_id, self.fingerprint))


def derived_keys(batch: Sequence[Identity], stored: Mapping[str, object]) -> list[str]:
    """The derived keys `place` may try, given `stored` under the batch's own keys: those of messages whose own key
    is stored or comes earlier in the batch. Nearly always none, so a batch's lookup is one key a message, not two."""
    derived: list[str] = []
    seen: set[str] = set()
    for identity in batch:
        if identity.header_id is not None and (identity.key in stored or identity.key in seen):
            derived.append(derived_key(identity.header_id, identity.fingerprint))
        seen.add(identity.key)
    return derived


def identify(raw: bytes) -> Identity:
    head, body = _head(raw)
    folded = head.lower()
    header_id = header_message_id(head, folded)
    return Identity(header_id, header_id or content_key(raw), _fingerprint(head, folded, body))


@dataclass(frozen=True, slots=True)
class Placed:
    """Where one message of a batch goes: under `key`, already stored as `pk` or new (pk None)."""

    index: int  # in the batch
    key: str
    pk: int | None
    header_id: str | None  # set when `key` is derived from it: a collision
    fingerprint: str


def place(batch: Sequence[Identity], stored: Mapping[str, tuple[int, str | None]]) -> list[Placed]:
    """Each distinct message of `batch`, in order, placed among `stored` (key -> pk and fingerprint).

    `stored` holds whatever rows are stored under any of the batch's own keys and
    :func:`derived_keys`. A copy of a message placed earlier in the batch is left
    out, as a stored one is not.
    """
    taken: dict[str, tuple[int | None, str | None]] = dict(stored)
    placed: list[Placed] = []
    seen: set[str] = set()
    for index, identity in enumerate(batch):
        key = identity.key
        owner = taken.get(key)
        # A row without a fingerprint predates them: its key is all there is to go by.
        if owner is not None and owner[1] not in (identity.fingerprint, None) and identity.header_id is not None:
            key = derived_key(identity.header_id, identity.fingerprint)  # the same content's key, taken or not
            owner = taken.get(key)
        collided = key != identity.key
        if key in seen:
            continue
        seen.add(key)
        pk = owner[0] if owner is not None else None
        placed.append(Placed(index, key, pk, identity.header_id if collided else None, identity.fingerprint))
        taken.setdefault(key, (None, identity.fingerprint))
    return placed
