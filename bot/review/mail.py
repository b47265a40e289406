"""The mails of the review flow, all built from a stored revision.

A revision keeps its subject, text, HTML and Markdown (`Parts`), so the
subscriber mail, the review mail and `digestbot show` are assembled from the
same strings without the mail store: the review mail is the subscriber mail's
subject, text and HTML, each preceded by a short note on how to answer. All
three go through `bot.render.message.digest_email`, the one digest builder.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.render.message import address_domain, bot_address, digest_email, text_email
from bot.review.tokens import TOKEN_HEADER, header_value, subject_tag

if TYPE_CHECKING:
    from bot.model import Digest
    from bot.settings import Settings

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


def chair_addresses(settings: Settings) -> tuple[str, ...]:
    found = [*settings.review.chair_addresses, settings.digest.chair_address]
    return tuple(dict.fromkeys(a.strip().lower() for a in found if a.strip()))


def digest_message(parts: Parts, settings: Settings, *, message_id: str, to: str, date: datetime,
                   headers: Mapping[str, str] | None = None, web_url: str = "") -> EmailMessage:
    """The mail a subscriber gets (or the list, in list mode), and its preview.

    Only `to`, `date`, `message_id` and the per-recipient `headers` differ between
    the preview and the sent mail; the rest follows from the revision and settings.
    `web_url`: the digest's page in the public archive (bot/publish/names.py), linked at the end.
    """
    text, page = parts.text, parts.html
    if web_url:
        text = text.rstrip("\n") + f"\n\nThis digest on the web: {web_url}\n"
        page = _append_html(page, _web_link_html(web_url))
    return digest_email(parts.subject, text, page, sender=bot_address(settings), to=to,
                        reply_to=settings.list.address, date=date, message_id=message_id,
                        headers=list((headers or {}).items()))


def _web_link_html(url: str) -> str:
    link = html.escape(url)
    return (f'<p class="web-link" style="margin: 1em 0 0; color: #57606a; font-size: 0.9em;">'
            f'This digest on the web: <a href="{link}" style="color: #0550ae;">{link}</a></p>\n')


def _append_html(page: str, block: str) -> str:
    """`block` at the end of the minutes: inside the template's column, else before </body>."""
    end = page.rfind("</div>") if 'class="digest"' in page else -1
    if end < 0:
        end = page.lower().rfind("</body>")
    return page + block if end < 0 else page[:end] + block + page[end:]


def review_message(parts: Parts, settings: Settings, tag: ReviewTag, *, to: str, date: datetime,
                   reminder: bool = False, model_checks: Mapping[str, Any] | None = None,
                   digest_data: Mapping[str, Any] | None = None) -> EmailMessage:
    """The subscriber mail, wrapped for the chair: a note on top, the token in subject and header.

    `model_checks`: the digest JSON's record of a model's summaries (bot/render/digest.py), told the chair.
    """
    label = subject_tag(tag.digest_id, tag.revision, tag.token)
    subject = f"{'Reminder: ' if reminder else ''}{label} {parts.subject}"
    note = review_note(settings, tag, reminder=reminder) + memory_note(digest_data) + model_note(model_checks)
    text = note + "\n" + RULE + "\n\n" + parts.text
    msg = digest_email(subject, text, _prepend_html(parts.html, _note_html(note)), sender=bot_address(settings),
                       to=to, reply_to=bot_address(settings), date=date,
                       message_id=review_message_id(settings, tag),
                       headers=[("Auto-Submitted", "auto-generated"),
                                (TOKEN_HEADER, header_value(tag.digest_id, tag.revision, tag.token))])
    msg.add_attachment(parts.markdown, subtype="markdown", charset="utf-8", cte="quoted-printable",
                       filename=f"digest-{tag.digest_id}-r{tag.revision}.md")
    return msg


def review_message_id(settings: Settings, tag: ReviewTag) -> str:
    """Replies quote it in In-Reply-To, a third place the token survives a reply."""
    return f"<review.{tag.digest_id}.r{tag.revision}.{tag.token}.{secrets.token_hex(6)}@{_domain(settings)}>"


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
        "  done ID          to close open action #ID (the draft is not changed)",
        "",
        "Keep the subject line: its token ties your reply to this revision.",
        "Only replies from the chair's address count.",
    ]
    if not reminder:
        lines.append(f"Send deadline: {when} (one reminder then).")
    return "\n".join(lines) + "\n"


def memory_note(data: Mapping[str, Any] | None) -> str:
    """The draft's coverage, how to close an action, and the DONE: lines that closed nothing."""
    from bot.render.minutes import coverage_line

    if not data or "coverage" not in data:
        return ""
    lines = ["", coverage_line(data["coverage"])]
    if data.get("open_actions"):
        lines.append("Reply  done ID  (e.g. done 3) to close one of the open actions.")
    refused = data.get("refused_closings") or []
    if refused:
        lines.append(f"{len(refused)} DONE: line(s) on the list closed nothing:")
        lines += [f"  {line}" for line in refused]
    return "\n".join(lines) + "\n"


def model_note(checks: Mapping[str, Any] | None) -> str:
    """What the chair should know of a model's summaries: how many points the checks dropped, and why."""
    if not checks:
        return ""
    dropped: Mapping[str, int] = checks.get("points_dropped") or {}
    fallbacks = checks.get("fallbacks") or []
    written = checks.get("items_written", 0)
    lines = ["", f"A language model ({checks.get('model', '?')}) wrote {written} of {written + len(fallbacks)} "
             "item summaries (marked in the digest).",
             "Each of its points cites messages and passed mechanical checks against them.",
             f"The checks dropped {sum(dropped.values())} point(s)" + (":" if dropped else ".")]
    lines += [f"  a point that {reason}: {count}" for reason, count in dropped.items()]
    if fallbacks:
        lines.append(f"{len(fallbacks)} item(s) kept their extractive summary:")
        lines += [f"  {entry.get('subject', '')}: {entry.get('reason', '')}" for entry in fallbacks]
    return "\n".join(lines) + "\n"


def reply_draft(parts: Parts, settings: Settings, tag: ReviewTag, *, chair: str, date: datetime) -> EmailMessage:
    """A ready-made answer for the chair's Drafts folder: send it as it is to approve."""
    headers = [
        ("From", chair), ("To", bot_address(settings)),
        ("Subject", f"Re: {subject_tag(tag.digest_id, tag.revision, tag.token)} {parts.subject}"),
        ("Date", format_datetime(date)), ("In-Reply-To", review_message_id(settings, tag)),
        (TOKEN_HEADER, header_value(tag.digest_id, tag.revision, tag.token)),
    ]
    body = ("approve\n\n"
            "(Send this as it is to approve the digest. To reject it, replace \"approve\" with\n"
            "\"reject\" and your reason. To change it, replace this whole message with the\n"
            "edited Markdown below.)\n\n" + parts.markdown)
    return text_email(headers, body)


def notice_message(settings: Settings, *, to: str, subject: str, body: str, date: datetime) -> EmailMessage:
    """A short note to the chair (an ignored reply, a failed delivery)."""
    headers = [
        ("From", bot_address(settings)), ("To", to), ("Subject", f"[digestbot] {subject}"),
        ("Date", format_datetime(date)), ("Message-ID", make_msgid(domain=_domain(settings))),
        ("Auto-Submitted", "auto-generated"),
    ]
    return text_email(headers, body)


def _domain(settings: Settings) -> str:
    return address_domain(bot_address(settings)) or "localhost"


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
