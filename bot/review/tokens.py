"""One-time tokens that tie a chair's reply to one revision of one draft.

A token is HMAC-SHA256(secret, "ID:REVISION") cut to 20 hex digits (80 bits):
without the secret nobody can make one, and a token for revision 1 does not
approve revision 2. The review mail carries it twice: in the subject, which
every mail client keeps when replying, and in the X-Digestbot-Token header, for
tools that copy headers. Unsubscribe links use the same key over the address,
so only someone who received the digest can unsubscribe that address.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from email.message import Message

TOKEN_HEADER = "X-Digestbot-Token"
TOKEN_HEX = 20

# "[digestbot #12 r2 0123456789abcdef0123]", anywhere in the subject (a reply
# adds "Re: ", some lists add their own prefix).
_HEX = f"[0-9a-f]{{{TOKEN_HEX}}}"
_TAG = re.compile(rf"\[digestbot #(\d{{1,9}}) r(\d{{1,6}}) ({_HEX})\]", re.IGNORECASE)
_HEADER_VALUE = re.compile(rf"^\s*#?(\d{{1,9}})\s+r(\d{{1,6}})\s+({_HEX})\s*$", re.IGNORECASE)
_UNSUBSCRIBE = re.compile(rf"\bunsubscribe\s+({_HEX})\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Tag:
    """What a reply claims: the draft, its revision, and the token for both."""

    digest_id: int
    revision: int
    token: str


def _mac(secret: str, text: str) -> str:
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()[:TOKEN_HEX]


def review_token(secret: str, digest_id: int, revision: int) -> str:
    return _mac(secret, f"{digest_id}:{revision}")


def is_valid(secret: str, tag: Tag) -> bool:
    expected = review_token(secret, tag.digest_id, tag.revision)
    return hmac.compare_digest(expected, tag.token.lower())


def subject_tag(digest_id: int, revision: int, token: str) -> str:
    return f"[digestbot #{digest_id} r{revision} {token}]"


def header_value(digest_id: int, revision: int, token: str) -> str:
    return f"#{digest_id} r{revision} {token}"


def find_tag(subject: str, msg: Message | None = None) -> Tag | None:
    """The tag of a reply: from its subject, else from the token header."""
    match = _TAG.search(subject)
    if match is None and msg is not None:
        match = _HEADER_VALUE.match(str(msg.get(TOKEN_HEADER, "")))
    if match is None:
        return None
    return Tag(int(match.group(1)), int(match.group(2)), match.group(3).lower())


def unsubscribe_token(secret: str, address: str) -> str:
    return _mac(secret, f"unsubscribe:{address.strip().lower()}")


def find_unsubscribe_token(text: str) -> str | None:
    match = _UNSUBSCRIBE.search(text)
    return match.group(1).lower() if match else None
