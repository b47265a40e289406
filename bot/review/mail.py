"""The mails of the review flow, all built from a stored revision.

A revision keeps its subject, text, HTML and Markdown (`Parts`), so the
subscriber mail, the review mail and `digestbot show` are assembled from the
same strings without the mail store: the review mail is the subscriber mail's
subject, text and HTML, each preceded by a short note on how to answer.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.review.tokens import TOKEN_HEADER, header_value, subject_tag

if TYPE_CHECKING:
    from bot.model import Digest
    from bot.settings import Settings

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_BODY_OPEN = re.compile(r"<body[^>]*>", re.IGNORECASE)
RULE = "-" * 72


@dataclass(frozen=True, slots=True)
class Parts:
    """What one revision of a digest looks like in every format a mail needs."""

    subject: str
    text: str
    html: str
    markdown: str  # the editable source


@dataclass(frozen=True, slots=True)
class ReviewTag:
    """Which revision a review mail is about, and how to answer it."""

    digest_id: int
    revision: int
    token: str
    deadline: datetime
    audience: str  # "driftwood-devel@lists.example.org (the list)" or "12 subscribers"


def parts_from_digest(digest: Digest, settings: Settings) -> tuple[Parts, dict[str, Any]]:
    """The pipeline's digest, rendered; plus its JSON structure for `show --format json`."""
    from bot.pipeline.digest import render_options
    from bot.render.digest import digest_subject, digest_to_dict, render

    options = render_options(settings)
    parts = Parts(
        subject=digest_subject(digest, options),
        text=render(digest, "text", options),
        html=render(digest, "html", options),
        markdown=render(digest, "markdown", options),
    )
    return parts, digest_to_dict(digest, options)


def parts_from_markdown(markdown: str, subject: str) -> Parts:
    """An edited revision: Markdown is the source, text and HTML follow from it.

    The text part is the Markdown itself (it is written to be read as text),
    without the YAML front matter, which is metadata for archives.
    """
    from markdown_it import MarkdownIt

    source = markdown.replace("\r\n", "\n").replace("\r", "\n").strip("\n") + "\n"
    body = _FRONT_MATTER.sub("", source, count=1).lstrip("\n")
    # html=False: raw HTML in the source is shown as text, never passed through.
    content = MarkdownIt("commonmark", {"html": False}).enable("table").render(body)
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(subject)}</title>\n</head>\n"
        '<body style="font-family: -apple-system, \'Segoe UI\', Helvetica, Arial, sans-serif; '
        'line-height: 1.5; max-width: 44em; margin: 0 auto; padding: 1em; color: #1f2328;">\n'
        f"{content}</body>\n</html>\n"
    )
    return Parts(subject=subject, text=body, html=page, markdown=source)


def bot_address(settings: Settings) -> str:
    """The bot's own address: From of everything it sends, and where replies go."""
    if settings.smtp.from_address:
        return settings.smtp.from_address
    domain = parseaddr(settings.list.address)[1].rpartition("@")[2] or "localhost"
    return f"digestbot@{domain}"


def chair_addresses(settings: Settings) -> tuple[str, ...]:
    found = [*settings.review.chair_addresses, settings.digest.chair_address]
    return tuple(dict.fromkeys(a.strip().lower() for a in found if a.strip()))


def digest_message(parts: Parts, settings: Settings, *, message_id: str, to: str, date: datetime,
                   headers: Mapping[str, str] | None = None) -> EmailMessage:
    """The mail a subscriber gets (or the list, in list mode)."""
    base = {
        "From": bot_address(settings), "To": to, "Reply-To": settings.list.address, "Subject": parts.subject,
        "Date": format_datetime(date), "Message-ID": message_id,
    }
    return _assemble({**base, **(headers or {})}, parts.text, parts.html)


def review_message(parts: Parts, settings: Settings, tag: ReviewTag, *, to: str, date: datetime,
                   reminder: bool = False) -> EmailMessage:
    """The subscriber mail, wrapped for the chair: a note on top, the token in subject and header."""
    label = subject_tag(tag.digest_id, tag.revision, tag.token)
    subject = f"{'Reminder: ' if reminder else ''}{label} {parts.subject}"
    headers = {
        "From": bot_address(settings), "To": to, "Reply-To": bot_address(settings), "Subject": subject,
        "Date": format_datetime(date), "Message-ID": review_message_id(settings, tag),
        "Auto-Submitted": "auto-generated", TOKEN_HEADER: header_value(tag.digest_id, tag.revision, tag.token),
    }
    note = review_note(settings, tag, reminder=reminder)
    text = note + "\n" + RULE + "\n\n" + parts.text
    msg = _assemble(headers, text, _prepend_html(parts.html, _note_html(note)))
    msg.add_attachment(parts.markdown, subtype="markdown", charset="utf-8", cte="quoted-printable",
                       filename=f"digest-{tag.digest_id}-r{tag.revision}.md")
    return msg


def review_message_id(settings: Settings, tag: ReviewTag) -> str:
    """Replies quote it in In-Reply-To, a third place the token survives a reply."""
    domain = parseaddr(bot_address(settings))[1].rpartition("@")[2] or "localhost"
    return f"<review.{tag.digest_id}.r{tag.revision}.{tag.token}.{secrets.token_hex(6)}@{domain}>"


def review_note(settings: Settings, tag: ReviewTag, *, reminder: bool = False) -> str:
    when = _when(tag.deadline, settings.list.timezone)
    lines = []
    if reminder:
        lines += [f"REMINDER: this draft passed its send deadline ({when}) and is still",
                  "not approved. It will not be sent until you approve it.", ""]
    lines += [
        f"digestbot: draft #{tag.digest_id}, revision {tag.revision}, needs your approval.",
        f"Below the line is the digest exactly as it will go to {tag.audience}.",
        "Nothing is sent until you approve it. Reply to this mail with:",
        "",
        "  approve          to send it as it is",
        "  reject REASON    to drop it (say why)",
        f"  edited Markdown  to change it: the attached digest-{tag.digest_id}-r{tag.revision}.md,",
        "                   edited, as the whole body of your reply; you then",
        "                   get the new revision to approve",
        "",
        "Keep the subject line: its token ties your reply to this revision.",
        "Only replies from the chair's address count.",
    ]
    if not reminder:
        lines.append(f"Send deadline: {when} (one reminder then).")
    return "\n".join(lines) + "\n"


def reply_draft(parts: Parts, settings: Settings, tag: ReviewTag, *, chair: str, date: datetime) -> EmailMessage:
    """A ready-made answer for the chair's Drafts folder: send it as it is to approve."""
    headers = {
        "From": chair, "To": bot_address(settings),
        "Subject": f"Re: {subject_tag(tag.digest_id, tag.revision, tag.token)} {parts.subject}",
        "Date": format_datetime(date), "In-Reply-To": review_message_id(settings, tag),
        TOKEN_HEADER: header_value(tag.digest_id, tag.revision, tag.token),
    }
    body = ("approve\n\n"
            "(Send this as it is to approve the digest. To reject it, replace \"approve\" with\n"
            "\"reject\" and your reason. To change it, replace this whole message with the\n"
            "edited Markdown below.)\n\n" + parts.markdown)
    msg = _assemble(headers, body, None)
    return msg


def notice_message(settings: Settings, *, to: str, subject: str, body: str, date: datetime) -> EmailMessage:
    """A short note to the chair (an ignored reply, a failed delivery)."""
    headers = {
        "From": bot_address(settings), "To": to, "Subject": f"[digestbot] {subject}",
        "Date": format_datetime(date), "Message-ID": make_msgid(domain=_domain(settings)),
        "Auto-Submitted": "auto-generated",
    }
    return _assemble(headers, body if body.endswith("\n") else body + "\n", None)


def _domain(settings: Settings) -> str:
    return parseaddr(bot_address(settings))[1].rpartition("@")[2] or "localhost"


def _assemble(headers: Mapping[str, str], text: str, html_part: str | None) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    for name, value in headers.items():
        if value:
            msg[name] = _header(value)
    # Quoted-printable keeps the mail 7-bit clean whatever the summaries hold.
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html_part is not None:
        msg.add_alternative(html_part, subtype="html", charset="utf-8", cte="quoted-printable")
        # A boundary from the content, not random: the same revision gives the same bytes.
        msg.set_boundary("=_digest_" + hashlib.sha256((text + html_part).encode()).hexdigest()[:32])
    return msg


def _header(value: str) -> str:
    # One line, and no "=?" opener the email package would decode into a newline.
    return " ".join(_UNSAFE.sub(" ", value).split()).replace("=?", "= ?")


def _prepend_html(page: str, block: str) -> str:
    match = _BODY_OPEN.search(page)
    if match is None:
        return block + page
    return page[: match.end()] + "\n" + block + page[match.end():]


def _note_html(note: str) -> str:
    return ('<div style="border: 2px solid #bf8700; background: #fff8c5; color: #1f2328; padding: 0.75em 1em; '
            'max-width: 60em; margin: 0 auto 1.5em auto; font-family: monospace; white-space: pre-wrap;">'
            f"{html.escape(note.rstrip())}</div>\n")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _when(moment: datetime, zone: str) -> str:
    # English names on purpose: strftime's %a/%b follow the process locale.
    local = moment.astimezone(ZoneInfo(zone))
    return (f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, "
            f"{local:%H:%M} {local.tzname()}")
