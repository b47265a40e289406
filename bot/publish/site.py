"""The public archive: every sent digest as a page, a Markdown file and a feed entry, plus an index.

Only what went out is public: a digest in state `sent` with at least one
delivery that reached its recipient, at the revision that was delivered. Its
page is the HTML that was mailed (the same template, escaped the same way),
with the site's links added; its Markdown is the revision's source with the
front matter of the reference minutes. Nothing else is read: no draft, no
other revision, and nothing of an unsent digest reaches any file.

Everything is rendered in memory from the store (no clock), then written file
by file: pages first, then the feed, the index last, so a publish killed
halfway leaves an index and feed that link only to complete files.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.errors import PublishError
from bot.publish.feed import FeedEntry, FeedHead, atom_feed, entry_id
from bot.publish.files import remove_leftovers, sync_folder, write_if_changed
from bot.publish.names import FEED, INDEX, page_name, site_url

if TYPE_CHECKING:
    import jinja2

    from bot.settings import Settings
    from bot.store.database import Store

_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_ITEM_HEADING = re.compile(r"^####\s+(.+?)(?:\s+#+)?\s*$", re.MULTILINE)  # "#### Title ####" in the Markdown
_MD_ESCAPE = re.compile(r"\\(.)")
_HEAD_END = re.compile(r"</head>", re.IGNORECASE)
_BODY_OPEN = re.compile(r"<body[^>]*>", re.IGNORECASE)
_H4 = re.compile(r"<h4>")
# The site's own additions to a mailed page: its navigation, and a dark scheme for an edited
# revision's page (the Markdown-rendered mail has none).
_SITE_CSS = """
.site-nav { max-width: 672px; margin: 0 auto; padding: 16px 16px 0; font-size: 14.4px; color: #57606a;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.site-nav.plain { padding: 0 0 8px; }
.site-nav a { color: #0550ae; }
.site-title { font-size: 1.6em; line-height: 1.25; margin: 0.4em 0 0.3em; }
.site-meta { color: #57606a; font-size: 0.9em; margin: 0 0 0.8em; }
@media (prefers-color-scheme: dark) {
  body { background: #0d1117 !important; color: #e6edf3 !important; }
  a, .site-nav a { color: #4493f8 !important; }
  .site-nav, .site-meta { color: #9198a1 !important; }
}
"""


@dataclass(frozen=True, slots=True)
class Sent:
    """One sent digest, as the site shows it."""

    digest_id: int
    revision: int
    name: str  # the page's file name without extension (bot/publish/names.py)
    title: str
    subject: str
    period_start: datetime
    period_label: str
    agenda: tuple[str, ...]
    chair: str
    sent_at: datetime
    entry_id: str
    html: str  # the HTML that was mailed
    markdown: str
    edited: bool  # the chair's Markdown, rendered: the page has no heading of its own


@dataclass(slots=True)
class PublishReport:
    output: str
    digests: int = 0
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    leftovers: int = 0  # temporary files of a killed publish, removed

    def line(self) -> str:
        return (f"published {self.digests} digest(s) to {self.output}: {len(self.written)} file(s) written, "
                f"{self.unchanged} unchanged")

    def as_dict(self) -> dict[str, Any]:
        return {"output": self.output, "digests": self.digests, "written": self.written,
                "unchanged": self.unchanged, "leftovers_removed": self.leftovers}


def site_title(settings: Settings) -> str:
    return settings.publish.title or f"{settings.list.name} minutes"


def sent_digests(store: Store, settings: Settings) -> list[Sent]:
    """Every digest the list received, newest period first."""
    found = []
    for draft in store.drafts.all(states=("sent",)):
        delivered = {row.revision for row in store.deliveries.of_digest(draft.id) if row.state == "sent"}
        if delivered != {draft.revision}:
            continue  # every delivery failed: nobody received it, so it is not public either
        row = store.drafts.revision(draft.id, draft.revision)
        if row is None:
            continue
        sent_at = max((t.at for t in store.drafts.history(draft.id) if t.to_state == "sent"),
                      default=draft.updated_at)
        found.append(_sent(draft.id, draft.revision, draft.mail_message_id, row.subject, row.markdown, row.data,
                           sent_at, settings))
    return sorted(found, key=lambda s: (s.period_start, s.digest_id), reverse=True)


def _sent(digest_id: int, revision: int, mail_id: str, subject: str, markdown: str, data: Mapping[str, Any],
          sent_at: datetime, settings: Settings) -> Sent:
    from bot.render.digest import period_label

    digest: Mapping[str, Any] = data.get("digest") or {}
    period = digest.get("period") or {}
    start, end = (datetime.fromisoformat(period[k]) if period.get(k) else sent_at for k in ("start", "end"))
    edited = bool(data.get("edited"))
    # An edited revision's agenda is what the chair left in it, not what the pipeline drafted.
    agenda = _agenda_of(markdown) if edited else tuple(str(a) for a in digest.get("agenda", ()))
    html_page = _with_item_anchors(str(data["html"])) if edited else str(data["html"])
    name = page_name(digest_id, digest)
    title = str(digest.get("title") or subject)
    sent = Sent(digest_id, revision, name, title, subject, start, period_label(start, end), agenda,
                str(digest.get("chair") or ""), sent_at, entry_id(mail_id), html_page, markdown, edited)
    return _with_front_matter(sent, settings)


def _agenda_of(markdown: str) -> tuple[str, ...]:
    return tuple(_MD_ESCAPE.sub(r"\1", m.group(1)).strip() for m in _ITEM_HEADING.finditer(markdown))


def _with_item_anchors(page: str) -> str:
    """An edited revision's page: each item heading (Markdown "####") gets the anchor the template gives it."""
    count = iter(range(1, 10_000))
    return _H4.sub(lambda _m: f'<h4 id="item-{next(count)}">', page)


def _with_front_matter(sent: Sent, settings: Settings) -> Sent:
    """The Markdown as published: front matter with no markup in it (a site may put a subject into
    its HTML unescaped); a chair's edit without front matter gets the reference minutes' back."""
    import dataclasses

    import yaml

    found = _FRONT_MATTER.match(sent.markdown)
    matter: Any = None
    if found:
        try:
            matter = yaml.safe_load(found.group()[4:-4])
        except yaml.YAMLError:
            matter = None
    if not isinstance(matter, dict):
        matter = {"updated": sent.sent_at.astimezone(ZoneInfo(settings.list.timezone)).date(),
                  "author": {"name": sent.chair or "digestbot"}, "subject": sent.title,
                  "permalink": re.sub(r"[^a-z0-9]+", "-", sent.title.lower()).strip("-") or sent.name,
                  "description": _summary(sent)}
    body = sent.markdown[found.end():] if found else sent.markdown
    front = yaml.safe_dump(_inert(matter), sort_keys=False, allow_unicode=True, width=1000)
    return dataclasses.replace(sent, markdown=f"---\n{front}---\n\n{body.lstrip()}")


def _inert(value: Any) -> Any:
    """Every string in front matter without "<" and ">" (as guillemets): text that can never become a tag."""
    if isinstance(value, str):
        return value.replace("<", "\u2039").replace(">", "\u203a")
    if isinstance(value, dict):
        return {key: _inert(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_inert(item) for item in value]
    return value


# -- rendering -----------------------------------------------------------------


def render_site(sent: list[Sent], settings: Settings) -> list[tuple[str, bytes]]:
    """Every file of the site, in the order to write them: pages and Markdown, then the feed, the index last."""
    base, title = settings.publish.base_url, site_title(settings)
    files: list[tuple[str, bytes]] = []
    for digest in sent:
        files.append((f"{digest.name}.html", _page(digest, title, base, settings.list.name).encode("utf-8")))
        files.append((f"{digest.name}.md", digest.markdown.encode("utf-8")))
    head = FeedHead(id=site_url(base, FEED) if base else f"urn:digestbot:archive:{_urn_part(settings.list.name)}",
                    title=title, self_url=site_url(base, FEED), index_url=site_url(base, INDEX),
                    author=settings.list.name)
    entries = [FeedEntry(d.entry_id, f"{d.title} ({d.period_label})", site_url(base, d.name + ".html"), d.sent_at,
                         _summary(d), d.chair) for d in sent]
    files.append((FEED, atom_feed(head, entries)))
    files.append((INDEX, _index(sent, settings).encode("utf-8")))
    return files


def _summary(digest: Sent) -> str:
    return ": ".join(filter(None, [digest.period_label, ", ".join(digest.agenda)]))


def _urn_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "list"


def _page(digest: Sent, title: str, base: str, list_name: str) -> str:
    """The mailed HTML, with the feed, the canonical URL and a line of navigation added
    (and, for an edited revision, the title and period the template would have shown)."""
    esc = html.escape
    head = (f'<link rel="alternate" type="application/atom+xml" title="{esc(title)}" href="{FEED}">\n'
            + (f'<link rel="canonical" href="{esc(site_url(base, digest.name + ".html"))}">\n' if base else "")
            + f"<style>{_SITE_CSS}</style>\n")
    nav = (f'<nav class="site-nav{" plain" if digest.edited else ""}"><a href="{INDEX}">&larr; {esc(title)}</a> '
           f'&middot; <a href="{esc(digest.name)}.md">Markdown</a> &middot; <a href="{FEED}">Atom feed</a></nav>\n')
    if digest.edited:
        meta = " · ".join(filter(None, [list_name, digest.period_label, digest.chair and f"Chair: {digest.chair}"]))
        nav += f'<h1 class="site-title">{esc(digest.title)}</h1>\n<p class="site-meta">{esc(meta)}</p>\n'

    page = digest.html
    match = _HEAD_END.search(page)
    page = page[: match.start()] + head + page[match.start():] if match else head + page
    match = _BODY_OPEN.search(page)
    return page[: match.end()] + "\n" + nav + page[match.end():] if match else nav + page


def _index(sent: list[Sent], settings: Settings) -> str:
    zone = ZoneInfo(settings.list.timezone)
    entries = [{"name": d.name, "title": d.title, "period": d.period_label, "chair": d.chair,
                "agenda": d.agenda, "sent": d.sent_at.astimezone(zone).strftime("%Y-%m-%d")} for d in sent]
    return _templates().get_template("archive.html.j2").render(
        title=site_title(settings), list_name=settings.list.name, entries=entries, feed=FEED)


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    import jinja2

    from bot.resources import templates_dir

    return jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir()), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


# -- writing -------------------------------------------------------------------


def publish(store: Store, settings: Settings, output: Path) -> PublishReport:
    """Write the archive of every sent digest to `output`; only files whose bytes change are written."""
    from bot.store.locks import holding, lock_path

    report = PublishReport(str(output))
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"{output}: cannot create the folder: {exc.strerror}") from None
    busy = lambda: PublishError(f"{output}: another digestbot is publishing; try again")  # noqa: E731
    with holding(lock_path(settings, "publish"), 60.0, busy):
        sent = sent_digests(store, settings)
        files = render_site(sent, settings)  # all of it rendered before the first write
        report.digests = len(sent)
        try:
            report.leftovers = remove_leftovers(output)
            for name, data in files:
                if write_if_changed(output / name, data):
                    report.written.append(name)
                else:
                    report.unchanged += 1
            sync_folder(output)
        except OSError as exc:
            raise PublishError(f"{exc.filename or output}: cannot write: {exc.strerror}") from None
    return report
