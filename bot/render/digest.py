"""The render stage: a `Digest` as text, Markdown, HTML, JSON or a MIME mail (bot/render/message.py).

Python prepares one plain dict (the JSON structure plus display fields); the
Jinja2 templates in `templates/` hold the layout. Every string from mail is made
one clean line first, so it cannot break out of a header, a Markdown block or
HTML. Nothing reads the clock: a digest always renders to the same bytes.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import jinja2
import markupsafe

from bot.errors import RenderError
from bot.model import AOB, Digest, Item, ModelReport, Section, SummarySentence
from bot.render import FORMATS
from bot.render.links import html_link, linked_text, md_link, unlinked
from bot.render.message import address_domain, digest_email, message_id_header
from bot.render.minutes import (
    action_dict,
    action_line,
    action_part,
    coverage_dict,
    coverage_line,
    day_month,
    started,
)
from bot.resources import templates_dir

WIDTH = 72

_TEMPLATES = {"text": "digest.txt.j2", "markdown": "digest.md.j2", "html": "digest.html.j2"}
# English names on purpose: strftime's %A/%B follow the process locale.
_MONTHS = ("January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# C0/C1 controls, Unicode line/paragraph separators and lone surrogates: each can
# end a header line, split a Markdown block or fail to encode.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")  # emphasis, code, links, HTML, headings, tables, entities
_MD_LINE_START = re.compile(r"^(?:([-+=])|(\d{1,9})([.)]))")


@dataclass(frozen=True, slots=True)
class RenderOptions:
    archive_url: str = ""  # with {message_id}, e.g. "https://lists.example.org/r/{message_id}"
    from_address: str = "digestbot@localhost"
    to_address: str = ""
    reply_to: str = ""
    message_id: str = ""  # of the digest mail; derived from list and period if empty
    subject_prefix: str = ""  # e.g. "[driftwood-devel]"; "[list_name]" if empty


def thread_url(message_id: str, archive_url: str) -> str:
    """The archive page of one message, or "" when there is no archive."""
    bare = message_id.strip().strip("<>")
    if not archive_url or not bare:
        return ""
    # "/" and "?" in a Message-ID must not become path or query syntax.
    quoted = quote(bare, safe="@")
    if "{message_id}" in archive_url:
        return archive_url.replace("{message_id}", quoted)
    return archive_url.rstrip("/") + "/" + quoted


def digest_subject(digest: Digest, options: RenderOptions) -> str:
    """"[list] Weekly Meeting: 2014-08-20 (18–24 Aug 2014)"."""
    prefix = options.subject_prefix or (f"[{digest.list_name}]" if digest.list_name else "")
    label = _period_label(digest.period_start, digest.period_end)
    return _clean(f"{prefix} {digest.title} ({label})")


def digest_to_dict(digest: Digest, options: RenderOptions) -> dict[str, Any]:
    """The public JSON structure; every string in it is one clean line."""
    sections = _ordered_sections(digest)
    return {
        "title": _clean(digest.title),
        "list": _clean(digest.list_name),
        "period": {"start": digest.period_start.isoformat(), "end": digest.period_end.isoformat()},
        "chair": _clean(digest.chair),
        "attendees": [_clean(name) for name in digest.attendees],
        "agenda": [_clean(item.title) for section in sections for item in section.items],
        "sections": [
            {"key": section.key, "title": _clean(section.title) or section.key,
             "threads": [_item_dict(item, options.archive_url) for item in section.items]}
            for section in sections
        ],
        "stats": _stats(digest, sections),
        "open_actions": [action_dict(note) for note in digest.open_actions],
        "closed_actions": [action_dict(note) for note in digest.closed_actions],
        **({"coverage": coverage_dict(digest)} if digest.coverage else {}),
        # DONE: lines that closed nothing: the chair is told, in the review mail.
        **({"refused_closings": [_clean(line) for line in digest.refused]} if digest.refused else {}),
        "next_call": digest.next_call.isoformat() if digest.next_call else None,
        # Only when a model wrote summaries, so extractive digests keep their shape.
        **({"model_checks": _model_checks(digest.model_report)} if digest.model_report else {}),
    }


def render(digest: Digest, fmt: str, options: RenderOptions) -> str:
    if fmt == "json":
        return json.dumps(digest_to_dict(digest, options), indent=2, ensure_ascii=False) + "\n"
    if fmt == "eml":
        return _preview_email(digest, options).as_bytes().decode("utf-8")
    if fmt not in _TEMPLATES:
        raise RenderError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = _environment().get_template(_TEMPLATES[fmt]).render(d=_view(digest, options))
    return _inline_css(out) if fmt == "html" else _tidy(out)


def _clean(text: str) -> str:
    """One line: unsafe characters become spaces, runs of space collapse."""
    return " ".join(_UNSAFE.sub(" ", text).split())


def _preview_email(digest: Digest, options: RenderOptions) -> EmailMessage:
    """The mail `send` would send for this digest, dated by its period: reproducible, no clock."""
    return digest_email(digest_subject(digest, options), render(digest, "text", options),
                        render(digest, "html", options), sender=options.from_address or "digestbot@localhost",
                        to=options.to_address, reply_to=options.reply_to, date=digest.period_end,
                        message_id=_message_id(digest, options))


def _message_id(digest: Digest, options: RenderOptions) -> str:
    given = message_id_header(options.message_id)
    if given:
        return given
    name, domain = (re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-.")
                    for text in (digest.list_name, address_domain(options.from_address)))
    start, end = digest.period_start, digest.period_end
    return f"<digest-{name or 'list'}-{start:%Y%m%d}-{end:%Y%m%d}@{domain or 'localhost'}>"


def _ordered_sections(digest: Digest) -> list[Section]:
    # Any other business closes the minutes, whatever order the sections came in.
    return sorted(digest.sections, key=lambda section: section.key == AOB)


def _item_dict(item: Item, archive_url: str) -> dict[str, Any]:
    links = _item_links(item, archive_url)
    return {
        "subject": _clean(item.title),
        "url": links[0] if links else "",
        "message_ids": [_clean(mid) for mid in item.message_ids],
        "participants": [_clean(name) for name in item.participants],
        "message_count": item.message_count,
        "summary": [_sentence_dict(s) for s in item.summary],
        "summary_by": _clean(item.summary_by) or None,  # a strategy's name, or "llm:<model>"
        "actions": [text for text in map(_clean, item.actions) if text],
        "action_ids": list(item.action_ids),
        "note": _clean(item.note),
        "continued": item.continued,
        "continued_from": started(item).isoformat() if item.continued else None,
        "late": item.late,
    }


def _sentence_dict(sentence: SummarySentence) -> dict[str, Any]:
    text, links = unlinked(_clean(sentence.text))
    out: dict[str, Any] = {"text": text, "message_id": _clean(sentence.message_id),
                           "author": _clean(sentence.author)}
    if links:  # the sentence's `[n]` references: marker, URL and where in the text the marker stood
        out["links"] = links
    if sentence.cites:  # a model-written point: every message it was checked against
        out["message_ids"] = [_clean(mid) for mid in sentence.cites]
    if sentence.point:  # a big thread's point: where its sub-discussion starts
        out["point"] = _clean(sentence.point)
    return out


def _model_checks(report: ModelReport) -> dict[str, Any]:
    """What the checks of a model's points did: for the chair and for tools reading the JSON."""
    return {
        "model": _clean(report.model),
        "items_written": report.items_written,
        "points_kept": report.points_kept,
        "points_dropped": {reason: count for reason, count in report.dropped},
        "fallbacks": [{"subject": _clean(title), "reason": _clean(reason)} for title, reason in report.fallbacks],
    }


def _item_links(item: Item, archive_url: str) -> list[str]:
    """The item's own URL if set, then each thread's root message."""
    urls = [item.url, *(thread_url(t.root_id, archive_url) for t in item.threads)]
    return [_clean(url) for url in dict.fromkeys(urls) if url]


def _stats(digest: Digest, sections: list[Section]) -> dict[str, int]:
    items = [item for section in sections for item in section.items]
    counted = {
        "messages": sum(item.message_count for item in items),
        "threads": sum(len(item.threads) for item in items),
        "participants": len({name for item in items for name in item.participants}),
    }
    return {**counted, **digest.stats}  # the digest's own counts win


def _view(digest: Digest, options: RenderOptions) -> dict[str, Any]:
    """The JSON structure plus what the templates display but JSON need not carry."""
    view = digest_to_dict(digest, options)
    items = [item for section in _ordered_sections(digest) for item in section.items]
    entries = [entry for section in view["sections"] for entry in section["threads"]]
    for number, (item, entry) in enumerate(zip(items, entries, strict=True), start=1):
        entry["title"] = entry["subject"] or "(no subject)"
        entry["anchor"] = f"item-{number}"
        entry["links"] = [{"ref": f"thread-{number}" + (f"-{k}" if k > 1 else ""),
                           "label": "thread" + (f" {k}" if k > 1 else ""), "url": url}
                          for k, url in enumerate(_item_links(item, options.archive_url), start=1)]
        entry["paragraphs"] = summary_paragraphs(entry["summary"], options.archive_url)
        entry["action_lines"] = [action_line(a, entry["action_ids"][k] if k < len(entry["action_ids"]) else None)
                                 for k, a in enumerate(entry["actions"])]
        entry["continued_line"] = (f"continued from {day_month(date.fromisoformat(entry['continued_from']))}"
                                   if entry["continued_from"] else "")
        by = entry["summary_by"] or ""
        entry["model_line"] = (f"Summary written by a language model, {by[4:]}; each point was checked against "
                               "the messages it cites." if by.startswith("llm:") and entry["summary"] else "")
    view["sections"] = [section for section in view["sections"] if section["threads"]]
    view["subject"] = digest_subject(digest, options)
    view["period_label"] = _period_label(digest.period_start, digest.period_end)
    view["last_day"] = _last_day(digest.period_start, digest.period_end)
    view["permalink"] = re.sub(r"[^a-z0-9]+", "-", view["title"].lower()).strip("-") or "digest"
    view["attendee_line"] = _attendee_line(view["chair"], view["attendees"])
    view["next_call_line"] = _long_date(digest.next_call) if digest.next_call else ""
    view["action_part"] = action_part(view, digest.period_start)
    view["coverage_line"] = coverage_line(view["coverage"]) if "coverage" in view else ""
    return view


def summary_paragraphs(summary: list[dict[str, str]], archive_url: str) -> list[dict[str, str]]:
    """Consecutive sentences by one author become one paragraph led by the name.

    A big thread's summary comes point by point: a point's first paragraph carries
    its number and the link to where its sub-discussion starts.
    """
    paragraphs: list[dict[str, str]] = []
    point = ""
    for sentence in summary:
        if not sentence["text"]:
            continue
        opens = sentence.get("point", "") != point
        # Markdown and HTML show each `[n]` reference as a link; the text format has no links.
        md = linked_text(sentence, lambda text: _MD_SPECIAL.sub(r"\\\1", text), md_link)
        html = linked_text(sentence, lambda text: str(markupsafe.escape(text)), html_link)
        if paragraphs and paragraphs[-1]["author"] == sentence["author"] and not opens:
            paragraphs[-1]["text"] += " " + sentence["text"]
            paragraphs[-1]["text_md"] += " " + md
            paragraphs[-1]["text_html"] = markupsafe.Markup(paragraphs[-1]["text_html"] + " " + html)
        else:
            url = thread_url(sentence["message_id"], archive_url)
            paragraphs.append({"author": sentence["author"], "text": sentence["text"], "url": url,
                               "point": "", "point_url": "", "text_md": _md_line_start(md),
                               "text_html": markupsafe.Markup(html)})
        if opens:
            point = sentence.get("point", "")
            number = sum(1 for p in paragraphs if p["point_url"]) + 1
            paragraphs[-1] |= {"point_url": thread_url(point, archive_url), "point": str(number)} if point else {}
    return paragraphs


def _attendee_line(chair: str, attendees: list[str]) -> str:
    """"Maya Okafor (chair), Dave Scott and Anil", like the reference minutes."""
    # The chair leads the list even on a week they did not write.
    names = [name for name in attendees if name and name != chair]
    names = [f"{chair} (chair)", *names] if chair else names
    return " and ".join(filter(None, [", ".join(names[:-1]), *names[-1:]]))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _last_day(start: datetime, end: datetime) -> date:
    # The period is [start, end): an end at midnight means the day before.
    if end > start and end.time() == time(0):
        return (end - timedelta(days=1)).date()
    return end.date()


def period_label(start: datetime, end: datetime) -> str:
    """The period as the minutes show it (the site's index and feed too)."""
    return _period_label(start, end)


def _period_label(start: datetime, end: datetime) -> str:
    """"18–24 Aug 2014", "28 Jul – 3 Aug 2014" or "29 Dec 2014 – 4 Jan 2015"."""
    first, last = start.date(), _last_day(start, end)
    if first >= last:
        return _short_date(last)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{_short_date(last)}"
    if first.year == last.year:
        return f"{first.day} {_MONTHS[first.month - 1][:3]} – {_short_date(last)}"
    return f"{_short_date(first)} – {_short_date(last)}"


def _short_date(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1][:3]} {day.year}"


def _long_date(moment: datetime) -> str:
    return f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # Escaping is on for everything but the two plain-text formats: fail safe.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir()), undefined=jinja2.StrictUndefined,
                             autoescape=lambda name: not (name or "").endswith((".txt.j2", ".md.j2")),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(wrap=_wrap, heading=_heading, md=_md, md_wrap=_md_wrap, yaml=_yaml, plural=_plural)
    return env


def _wrap(text: str, indent: str = "", hang: str = "") -> str:
    # URLs must stay whole to stay clickable, so long words overflow instead.
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=hang,
                         break_long_words=False, break_on_hyphens=False)


def _heading(text: str, rule: str = "-", over: bool = False) -> str:
    lines = _wrap(text).splitlines() or [""]
    line = rule * min(WIDTH, max(len(part) for part in lines))
    return "\n".join([line] * over + lines + [line])


def _yaml(data: dict[str, Any]) -> str:
    import yaml  # imported here: only Markdown's front matter needs it

    # safe_dump quotes whatever a subject holds, so front matter always parses.
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def _md(text: str) -> str:
    """Markdown-escape mail text so it stays text: no links, HTML or blocks."""
    return _md_line_start(_MD_SPECIAL.sub(r"\\\1", text))


def _md_line_start(line: str) -> str:
    # "-", "+", "=" or "1." at the start of a line would open a list or a heading.
    return _MD_LINE_START.sub(lambda m: "\\" + m[1] if m[1] else f"{m[2]}\\{m[3]}", line)


def _md_wrap(text: str) -> str:
    return "\n".join(_md_line_start(line) for line in _wrap(text).splitlines())


def _tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


def _inline_css(html: str) -> str:
    import css_inline  # imported here: only HTML output needs it

    # keep_at_rules keeps the dark-scheme @media block in <head>; the rest is inlined.
    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    return str(inliner.inline(html))
