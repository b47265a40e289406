"""Parse raw bytes into a `Mail`: never raises, flags what it could not read.

The fast path is bot.mail.mime, which reads the common shapes of list mail exactly
as the standard library's compat32 parser does, at a fraction of its cost;
compat32 itself (about ten times cheaper than mail-parser) reads the rest,
and mail-parser is the second opinion for messages neither can read. Limits
from the settings stop hostile mail (huge, deeply nested, endless headers)
before it costs anything.
"""

from __future__ import annotations

import email
import email.header
import email.utils
import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message
from typing import cast

from bot.mail.mime import read_message
from bot.model import Mail
from bot.settings import LimitSettings

_ID = re.compile(r"<([^<>\s]{1,900})>")
# Every header mail_from_message and _body read: bot.mail.mime keeps only these (keep this in step).
READ_HEADERS = frozenset({"from", "subject", "date", "received", "references", "in-reply-to", "content-type",
                           "content-transfer-encoding", "content-disposition"})
_SPACE = re.compile(r"\s+")


def parse_mail(raw: bytes, message_id: str, imported_at: datetime, limits: LimitSettings) -> Mail:
    """The fields the pipeline needs from one message; problems become flags."""
    flags: set[str] = set()
    head_size = _header_size(raw)
    if len(raw) > limits.max_message_bytes:
        flags.add("too-large")
    if head_size > limits.max_header_bytes:
        flags.add("header-too-large")
    if flags:
        return _unread(message_id, imported_at, flags)
    try:
        msg = read_message(raw, READ_HEADERS) or email.message_from_bytes(raw)
        return mail_from_message(msg, message_id, imported_at, limits, flags)
    except (RecursionError, MemoryError):
        flags.add("too-deep")
    except Exception:  # noqa: BLE001 - any parser failure is a flag, never a crash
        return _with_mail_parser(raw, message_id, imported_at, flags)
    return _unread(message_id, imported_at, flags)


def _header_size(raw: bytes) -> int:
    ends = [pos for pos in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if pos >= 0]
    return min(ends) if ends else len(raw)


def _unread(message_id: str, imported_at: datetime, flags: set[str]) -> Mail:
    return Mail(message_id=message_id, subject="(message not read)", from_name="", from_addr="",
                date=imported_at, flags=frozenset(flags | {"unparsed"}))


def mail_from_message(msg: Message, message_id: str, imported_at: datetime, limits: LimitSettings,
                      flags: set[str]) -> Mail:
    """The Mail of a message already parsed (by bot.mail.mime or the email package); problems go to `flags`."""
    from_name, from_addr = _sender(msg.get("From"), flags)
    subject = _clean_header(_decode(msg.get("Subject"), flags))
    if len(subject) > limits.max_subject_chars:
        subject = subject[: limits.max_subject_chars] + "…"
        flags.add("subject-too-long")
    references = tuple(_ID.findall(str(msg.get("References") or "")))
    if len(references) > limits.max_references:
        references = references[-limits.max_references :]
        flags.add("too-many-references")
    reply_ids = _ID.findall(str(msg.get("In-Reply-To") or ""))
    body, attachments = _body(msg, limits, flags)
    return Mail(
        message_id=message_id,
        subject=subject,
        from_name=from_name,
        from_addr=from_addr,
        date=_date(msg, imported_at, flags),
        in_reply_to=f"<{reply_ids[0]}>" if reply_ids else None,
        references=tuple(f"<{ref}>" for ref in references),
        body=body,
        attachments=attachments,
        flags=frozenset(flags),
    )


def _decode(value: object, flags: set[str]) -> str:
    """An RFC 2047 header value as text, whatever its charsets claim."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    text = str(value)
    try:
        parts = email.header.decode_header(text)
    except Exception:  # noqa: BLE001 - malformed encoded-words
        flags.add("bad-header")
        return text
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(_to_text(chunk, charset, flags))
    return "".join(out)


def _clean_header(text: str) -> str:
    # No CR, LF or control character from mail may reach anything we emit.
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return _SPACE.sub(" ", text).strip()


def _to_text(data: bytes, charset: str | None, flags: set[str]) -> str:
    charset = (charset or "utf-8").strip().lower()
    if charset in ("unknown-8bit", "x-unknown", "8bit", "default"):
        charset = "utf-8"
    try:
        return data.decode(charset)
    except LookupError:
        flags.add("bad-charset")
    except UnicodeDecodeError:
        flags.add("bad-encoding")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _sender(value: object, flags: set[str]) -> tuple[str, str]:
    text = _decode(value, flags)
    name, addr, found = (_known_sender if len(text) <= _CACHED_SENDER else _sender_of)(text)
    if not found:
        flags.add("no-sender")
    return name, addr


def _sender_of(text: str) -> tuple[str, str, bool]:
    """The name and address in a decoded From header, and whether there was either."""
    if hidden := _PIPERMAIL_FROM.fullmatch(text.strip()):  # "user at example.org (Name)"
        quoted = hidden["name"].replace("\\", "\\\\").replace('"', '\\"')  # "Krishnaswami, Neel": one name
        text = f'"{quoted}" <{hidden["user"]}@{hidden["host"]}>'
    try:
        pairs = email.utils.getaddresses([text])
    except Exception:  # noqa: BLE001
        pairs = []
    name, addr = pairs[0] if pairs else ("", "")
    found = bool(addr or name)
    name = _clean_header(name).strip("'\" ")
    addr = _clean_header(addr)
    if not name and (bare := _BARE_FROM.fullmatch(addr)):  # LISTSERV: "Ann Smith ann.smith@example.org"
        name, addr = bare["name"].strip("'\" "), bare["addr"]
    addr = addr.lower()
    if not name and "@" not in addr and addr:
        name, addr = addr, ""
    # Pipermail archives write "user at example.org" to hide addresses.
    if not addr and " at " in name:
        addr, name = name.replace(" at ", "@"), ""
    if "@" in name or " at " in name:  # the name is only the address again: "x@y.org" <x@y.org>
        name = "" if name.replace(" at ", "@").strip("<>").lower() == addr else name
    return name, addr, found


# A list's mail comes from far fewer people than it has messages: getaddresses once a sender (a short From
# line: a hostile one costs no memory here).
_known_sender = functools.lru_cache(maxsize=4096)(_sender_of)
_CACHED_SENDER = 200

# Pipermail hides addresses: "user at example.org (Name)", the name sometimes with the address again.
_PIPERMAIL_FROM = re.compile(r"(?P<user>[^\s@()<>]+) at (?P<host>[\w.-]+\.\w+) \((?P<name>[^()<>]*?)\s*(?:<[^<>]*>)?\)")
# What getaddresses makes of a From line without angle brackets: the name and address run together.
_BARE_FROM = re.compile(r"(?P<name>.*\S)\s+(?P<addr>[^\s@<>\"]+@[^\s@<>\"]+)")


def _date(msg: Message, imported_at: datetime, flags: set[str]) -> datetime:
    parsed = _parse_date(msg.get("Date"))
    if parsed is not None:
        return parsed
    for received in msg.get_all("Received") or []:
        stamp = str(received).rpartition(";")[2]
        parsed = _parse_date(stamp)
        if parsed is not None:
            flags.add("date-from-received")
            return parsed
    flags.add("no-date")
    return imported_at


def _parse_date(value: object) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(_SPACE.sub(" ", str(value)).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # RFC 5322's -0000: UTC, origin unknown
    if not 1980 <= parsed.year <= 2100:
        return None
    return parsed


def _body(msg: Message, limits: LimitSettings, flags: set[str]) -> tuple[str, tuple[str, ...]]:
    plain: str | None = None
    html: str | None = None
    attachments: list[str] = []
    for part in _parts(msg, limits, flags):
        disposition = str(part.get("Content-Disposition") or "").lower()
        # A filename is a "filename" or "name" parameter: parse the parameters only when one can be there.
        maybe_named = "name" in disposition or "name" in str(part.get("Content-Type") or "").lower()
        filename = part.get_filename() if maybe_named else None
        ctype = part.get_content_type()
        if filename or disposition.startswith("attachment"):
            attachments.append(_clean_header(_decode(filename, flags)) or ctype)
        elif ctype == "text/plain" and plain is None:
            plain = _payload_text(part, flags)
        elif ctype == "text/html" and html is None:
            html = _payload_text(part, flags)
        elif part.get_content_maintype() == "multipart" and plain is None:
            # A multipart whose boundary is missing or never used: its raw text is all there is.
            flags.add("bad-mime")
            plain = _payload_text(part, flags)
    if plain is None and html is not None:
        plain = html_to_text(html)
        flags.discard("html-only")
    return (plain or "").replace("\r\n", "\n"), tuple(attachments)


def _parts(msg: Message, limits: LimitSettings, flags: set[str]) -> Iterator[Message]:
    """Leaf parts, depth first, without recursion and within the part limit."""
    stack = [msg]
    seen = 0
    while stack:
        part = stack.pop()
        seen += 1
        if seen > limits.max_parts:
            flags.add("too-many-parts")
            return
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            stack.extend(reversed(cast(list[Message], payload)))
        elif part.get_content_maintype() != "message":
            yield part


def _payload_text(part: Message, flags: set[str]) -> str:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encodings
        flags.add("bad-encoding")
        return str(part.get_payload())
    if not isinstance(data, bytes):
        return ""
    return _to_text(data, part.get_content_charset(), flags)


def html_to_text(html: str) -> str:
    """HTML-only mail as plain text (html2text is imported only when needed)."""
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_links = True
    return str(converter.handle(html)).strip() + "\n"


def _with_mail_parser(raw: bytes, message_id: str, imported_at: datetime, flags: set[str]) -> Mail:
    """mail-parser's reading of a message the fast path could not handle."""
    import mailparser

    flags.add("parsed-by-fallback")
    try:
        parsed = mailparser.parse_from_bytes(raw)
        name, addr = (parsed.from_ or [("", "")])[0]
        date = parsed.date.replace(tzinfo=UTC) if parsed.date else None
        if date is None:
            flags.add("no-date")
        return Mail(
            message_id=message_id, subject=_clean_header(parsed.subject or ""), from_name=_clean_header(name),
            from_addr=_clean_header(addr).lower(), date=date or imported_at,
            in_reply_to=(_ID.findall(str(parsed.in_reply_to or "")) or [None])[0],
            body="\n".join(parsed.text_plain), flags=frozenset(flags),
        )
    except Exception:  # noqa: BLE001 - the message is stored; say we could not read it
        flags.add("unparsable")
        return _unread(message_id, imported_at, flags)
