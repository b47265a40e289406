"""The one builder of the digest mail, and the header rules of every mail the bot writes.

The mail a subscriber gets, the preview (`draft --format eml`, `show --format
eml`) and the digest inside the chair's review mail all come from
`digest_email`. Only what differs between them is passed in: To, Date,
Message-ID and per-recipient headers (List-Unsubscribe, the review token).
Structure, encoding and sanitising are the same for all, so a preview is the
mail that goes out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING

from bot.errors import RenderError

if TYPE_CHECKING:
    from bot.settings import Settings

# C0/C1 controls, Unicode line/paragraph separators and lone surrogates: each can
# end a header line or fail to encode.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext
# Set by digest_email itself (or by the MIME structure): a caller's header may not replace them.
_OWN = frozenset({"from", "to", "reply-to", "subject", "date", "message-id", "mime-version"})


def address_domain(address: str) -> str:
    """The domain of "Name <user@domain>" or "user@domain", lower case; "" if it has none."""
    addr_spec = parseaddr(address)[1]
    if not addr_spec:
        return ""
    try:
        return Address(addr_spec=addr_spec).domain.lower()
    except (HeaderParseError, ValueError, IndexError):  # the parser's defects are ValueErrors
        return ""


def bot_address(settings: Settings) -> str:
    """The bot's own address: From of everything it sends, and where replies go."""
    if settings.smtp.from_address:
        return settings.smtp.from_address
    return f"digestbot@{address_domain(settings.list.address) or 'localhost'}"


def header_text(value: str) -> str:
    """One line: no control character, no line break, no run of spaces."""
    # The email package decodes "=?charset?q?...?=" in values it is given, which
    # would let a subject smuggle in an encoded newline; break every such opener.
    return " ".join(_UNSAFE.sub(" ", value).split()).replace("=?", "= ?")


def message_id_header(value: str) -> str:
    """"<id@domain>" from a Message-ID with or without brackets; "" for none."""
    bare = header_text(value).strip("<>").replace(" ", "")
    return f"<{bare}>" if bare else ""


def digest_email(subject: str, text: str, html: str, *, sender: str, to: str, reply_to: str, date: datetime,
                 message_id: str, headers: Sequence[tuple[str, str]] = ()) -> EmailMessage:
    """The digest as a multipart/alternative mail (text and HTML).

    `headers` are the caller's own (List-Unsubscribe for one subscriber, the
    review token): they follow the standard ones and cannot replace them.
    """
    for name, _value in headers:
        if name.lower() in _OWN:
            raise RenderError(f"{name} is set by digest_email itself, not by its caller")
    msg = _start([("From", sender), ("To", to), ("Reply-To", reply_to), ("Subject", subject),
                  ("Date", format_datetime(date)), ("Message-ID", message_id_header(message_id)), *headers])
    # Quoted-printable keeps the mail 7-bit clean whatever the summaries hold.
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    # A boundary from the content, not random, so the same revision gives the same
    # bytes; "=_" cannot start a quoted-printable line, so it never collides with the parts.
    msg.set_boundary("=_digest_" + hashlib.sha256((text + html).encode()).hexdigest()[:32])
    return msg


def text_email(headers: Sequence[tuple[str, str]], body: str) -> EmailMessage:
    """A plain-text mail (a notice, a ready-made reply) under the same header rules."""
    msg = _start(headers)
    msg.set_content(body if body.endswith("\n") else body + "\n", subtype="plain", charset="utf-8",
                    cte="quoted-printable")
    return msg


def _start(headers: Sequence[tuple[str, str]]) -> EmailMessage:
    """A message with these headers, each one clean line; an empty value means no header."""
    msg = EmailMessage(policy=policy.SMTP)
    for name, value in headers:
        # The MIME structure is ours: no caller may set it, nor a name that is not one.
        if not _HEADER_NAME.fullmatch(name) or name.lower().startswith(("content-", "mime-version")):
            raise RenderError(f"not a header digestbot can set: {name!r}")
        clean = header_text(value)
        if clean:
            msg[name] = clean
    return msg
