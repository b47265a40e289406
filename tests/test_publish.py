"""The public archive (bot/publish): only sent digests, valid Atom, links that resolve, safe to re-run.

Digests are drafted, approved and sent for real (aiosmtpd on loopback) before
anything is published; `digestbot publish` runs as a subprocess where the
command is what the test is about.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import feedparser  # type: ignore[import-untyped]
import pytest
import yaml
from markdown_it import MarkdownIt

from bot.delivery.send import send_approved
from bot.errors import ConfigError
from bot.mail.ingest import ingest
from bot.model import Digest, Item, Mail, RawMail, Section, SummarySentence, Thread
from bot.pipeline.digest import build_digest, period_for
from bot.publish.site import publish
from bot.review import lifecycle
from bot.schedule.jobs import JobRun, live_jobs
from bot.settings import Settings, load_settings
from bot.store.database import Store, open_store
from tests.helpers import hostile_mail as hm
from tests.helpers.mailfactory import make_raw, mbox_of
from tests.helpers.reviewkit import LIST, SECRET, SECRET_ENV, text_of, write_config
from tests.helpers.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "https://minutes.example.org/devel/"
ARCHIVE = "https://lists.example.org/r/"
PUBLISH = f'[publish]\ndir = "site"\nbase_url = "{BASE_URL}"\ntitle = "Driftwood minutes"\n'
WEEK = timedelta(days=7)
W1 = datetime(2014, 8, 18, tzinfo=UTC)


# -- helpers -------------------------------------------------------------------


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, SECRET_ENV: SECRET}
    return subprocess.run([sys.executable, "-m", "bot.cli.main", "--config", str(config), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag in ("a", "link") and found.get("href"):
            self.links.append(str(found["href"]))


def page(path: Path) -> _Page:
    return page_of(path.read_text(encoding="utf-8"))


def page_of(text: str) -> _Page:
    parser = _Page()
    parser.feed(text)
    parser.close()
    return parser


def feed_links(folder: Path) -> list[str]:
    parsed = feedparser.parse((folder / "feed.xml").read_bytes())
    return [link["href"] for item in [parsed.feed, *parsed.entries] for link in item.get("links", [])]


def local_target(href: str) -> tuple[str, str] | None:
    """(file, fragment) of a link into the site, absolute under BASE_URL or relative; None for the archive."""
    url, fragment = urldefrag(href)
    if url.startswith(ARCHIVE):
        return None
    if url.startswith(BASE_URL):
        url = url[len(BASE_URL):]
    assert not urlsplit(url).scheme and "/" not in url, f"a link out of the site: {href}"
    return url, fragment


def check_links(folder: Path) -> int:
    """Every link from the index, the feed and the pages they link to resolves to a file in `folder`
    (and an anchor in it); the number of links checked."""
    checked, todo, seen = 0, ["index.html", "feed.xml"], set()
    while todo:
        name = todo.pop()
        if name in seen or not name.endswith((".html", ".xml")):
            continue
        seen.add(name)
        links = feed_links(folder) if name == "feed.xml" else page(folder / name).links
        for href in links:
            target = local_target(href)
            if target is None:
                continue
            file, fragment = target
            file = file or name
            assert (folder / file).is_file(), f"{name} links to {href}: no such file"
            if fragment:
                assert fragment in page(folder / file).ids, f"{name} links to {href}: no such anchor"
            todo.append(file)
            checked += 1
    return checked


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def everything(folder: Path) -> str:
    return "\n".join(data.decode("utf-8") for data in snapshot(folder).values())


def digest_of(start: datetime, marker: str) -> Digest:
    """A one-item digest whose title, summary and action all carry `marker`."""
    mail = Mail(message_id=f"<{marker.lower()}@example.org>", subject=f"Topic {marker}", from_name="Ann Example",
                from_addr="ann@example.org", date=start + timedelta(days=1))
    item = Item(title=f"Topic {marker}", threads=(Thread(mail.message_id, mail.subject, (mail,)),),
                summary=(SummarySentence(f"Ann said {marker} twice.", mail.message_id, mail.from_name),),
                actions=(f"Ann, follow up on {marker}",))
    return Digest(title=f"Weekly Meeting: {start:%Y-%m-%d}", list_name="driftwood-devel", period_start=start,
                  period_end=start + WEEK, chair="Maya Okafor", attendees=("Maya Okafor", "Ann Example"),
                  sections=(Section("discussion", "Discussion", (item,)),))


def approved(store: Store, settings: Settings, digest: Digest) -> int:
    info = lifecycle.store_draft(store, settings, digest, "test", "cli")
    lifecycle.approve(store, info.id, "test", "cli")
    return info.id


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture()
def env(tmp_path: Path, smtp_server: SmtpServer, review_secret: str) -> Iterator[tuple[Settings, Store]]:
    settings = load_settings(write_config(tmp_path, smtp_server, source=PUBLISH))
    store = open_store(settings.store_url)
    yield settings, store
    store.engine.dispose()


# -- the command, end to end ---------------------------------------------------


def test_publish_after_a_real_send_gives_a_site_whose_parts_agree(tmp_path: Path, smtp_server: SmtpServer) -> None:
    config = write_config(tmp_path, smtp_server, source=PUBLISH)
    mbox = tmp_path / "weeks.mbox"
    mbox.write_bytes(mbox_of([
        make_raw(1, subject="Release plan for 2.0", body="We agreed to release 2.0 on 1 September.\n"),
        make_raw(2, subject="Re: Release plan for 2.0", sender="Bob Builder <bob@example.org>",
                 body="I will prepare the changelog by Friday.\n", reply_to=1),
        make_raw(3, subject="Unsent plans xyzzy", body="Nobody approved xyzzy yet.\n", when=W1 + WEEK + WEEK / 2),
    ]))
    ok(cli(config, "import", str(mbox)))
    ok(cli(config, "draft", "--week-of", "2014-08-20", "--save"))
    ok(cli(config, "approve", "1"))
    assert "sent" in ok(cli(config, "send"))
    ok(cli(config, "draft", "--week-of", "2014-08-27", "--save"))  # #2 stays a draft

    # The mail links to the page the archive will have.
    [got] = [g for g in smtp_server.received if LIST in g.rcpt_tos]
    web = f"{BASE_URL}2014-08-18-1.html"
    assert f"This digest on the web: {web}" in text_of(got.message)
    html_part = got.message.get_body(("html",))
    assert html_part is not None and f'href="{web}"' in str(html_part.get_content())  # type: ignore[attr-defined]

    site = tmp_path / "site"  # publish.dir, beside the config
    assert ok(cli(config, "publish")).strip() == f"published 1 digest(s) to {site}: 4 file(s) written, 0 unchanged"
    assert sorted(snapshot(site)) == ["2014-08-18-1.html", "2014-08-18-1.md", "feed.xml", "index.html"]
    assert check_links(site) >= 6
    assert "xyzzy" not in everything(site).lower()

    # The feed: valid Atom, one entry, a stable id, updated at the send time, links under base_url.
    store = open_store(load_settings(config).store_url)
    [sent_at] = [t.at for t in store.drafts.history(1) if t.to_state == "sent"]
    mail_id = store.drafts.get(1).mail_message_id  # type: ignore[union-attr]
    store.engine.dispose()
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    assert not feed.bozo and feed.version == "atom10"
    assert feed.feed.title == "Driftwood minutes" and feed.feed.id == f"{BASE_URL}feed.xml"
    [entry] = feed.entries
    assert entry.id == "mid:" + mail_id.strip("<>")
    assert entry.link == web
    assert entry.updated == sent_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") == feed.feed.updated
    assert entry.title == "Weekly Meeting: 2014-08-20 (18–24 Aug 2014)"

    # Index, page, Markdown and feed tell the same: title, period, agenda.
    index = (site / "index.html").read_text()
    html = (site / "2014-08-18-1.html").read_text()
    markdown = (site / "2014-08-18-1.md").read_text()
    for text in (index, html, markdown, entry.title):
        assert "Weekly Meeting: 2014-08-20" in text and "18–24 Aug 2014" in text
    for text in (index, html, markdown, entry.summary):
        assert "Release plan for 2.0" in text
    assert 'href="2014-08-18-1.html#item-1"' in index and 'id="item-1"' in html and 'href="feed.xml"' in index
    front = yaml.safe_load(markdown.split("---\n")[1])
    assert list(front) == ["updated", "author", "subject", "permalink", "description"]  # the reference minutes' keys
    assert front["subject"] == "Weekly Meeting: 2014-08-20" and "Release plan for 2.0" in front["description"]
    assert f"{ARCHIVE}1@test.example" in html  # the archive links of the mail

    # Again, with nothing new: nothing is written, every file is byte-identical and untouched.
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in site.iterdir()}
    again = ok(cli(config, "publish", "--output", str(site), "--format", "json"))
    assert '"written": []' in again and '"unchanged": 4' in again
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in site.iterdir()} == before


def test_publish_needs_a_folder_and_a_valid_base_url(tmp_path: Path) -> None:
    config = write_config(tmp_path, None)
    result = cli(config, "publish")
    assert result.returncode == 2 and "give --output DIR" in result.stderr
    bad = write_config(tmp_path, None, source='[publish]\nbase_url = "minutes.example.org"\n')
    with pytest.raises(ConfigError, match=r"publish\.base_url: 'minutes\.example\.org' is not an http"):
        load_settings(bad)
    assert load_settings(write_config(tmp_path, None, source=PUBLISH)).publish.dir == str(tmp_path / "site")


# -- only what was sent -------------------------------------------------------------


def test_only_sent_revisions_are_public_on_either_backend(store_url: str, tmp_path: Path, smtp_server: SmtpServer,
                                                          review_secret: str) -> None:
    config = write_config(tmp_path, smtp_server, source=PUBLISH.replace('"site"', '"out"'))
    settings = load_settings(config)
    from bot.settings import with_store

    settings = with_store(settings, store_url)
    store = open_store(store_url)
    try:
        # Sent, after an edit: revision 2 went out, revision 1 never did.
        sent_id = lifecycle.store_draft(store, settings, digest_of(W1, "REVONE"), "test", "cli").id
        markdown = lifecycle.revision(store, sent_id).parts.markdown
        lifecycle.edit(store, sent_id, markdown.replace("REVONE", "REVTWO"), "test", "cli")
        lifecycle.approve(store, sent_id, "test", "cli")
        lifecycle.store_draft(store, settings, digest_of(W1 + WEEK, "DRAFTED"), "test", "cli")
        rejected = lifecycle.store_draft(store, settings, digest_of(W1 + 2 * WEEK, "REJECTED"), "test", "cli").id
        lifecycle.reject(store, rejected, "test", "cli", "not this week")
        lifecycle.store_draft(store, settings, digest_of(W1 + 3 * WEEK, "SUPERSEDED"), "test", "cli")
        lifecycle.store_draft(store, settings, digest_of(W1 + 3 * WEEK, "NEWERDRAFT"), "test", "cli")
        assert [line for line in send_approved(store, settings).lines() if "sent" in line]
        approved(store, settings, digest_of(W1 + 4 * WEEK, "APPROVEDONLY"))  # after the send: not sent yet

        report = publish(store, settings, tmp_path / "out")
    finally:
        store.engine.dispose()

    site = tmp_path / "out"
    assert report.digests == 1 and sorted(snapshot(site)) == [f"2014-08-18-{sent_id}.{ext}" for ext in
                                                               ("html", "md")] + ["feed.xml", "index.html"]
    text = everything(site)
    for marker in ("REVONE", "DRAFTED", "REJECTED", "SUPERSEDED", "NEWERDRAFT", "APPROVEDONLY"):
        assert marker not in text, marker
    [entry] = feedparser.parse((site / "feed.xml").read_bytes()).entries
    assert "Topic REVTWO" in entry.summary
    assert "Topic REVTWO" in (site / "index.html").read_text() and "REVTWO" in (site / f"2014-08-18-{sent_id}.md")\
        .read_text()
    # The edited revision's page (Markdown, rendered) gets the anchors the index links to.
    check_links(site)


def test_the_send_job_publishes_right_after_sending(env: tuple[Settings, Store]) -> None:
    settings, store = env
    approved(store, settings, digest_of(W1, "SCHEDULED"))
    now = datetime.now(UTC)
    send = live_jobs()["send"]

    line = send(JobRun(settings, store, "send", now, now))
    assert line.endswith("archive: 4 file(s) written, 0 unchanged"), line
    site = Path(settings.publish.dir)
    assert "Topic SCHEDULED" in (site / "2014-08-18-1.html").read_text()
    assert send(JobRun(settings, store, "send", now, now)) == \
        "nothing approved to send; archive: 0 file(s) written, 4 unchanged"


# -- hostile mail -------------------------------------------------------------------

SAFE_TAGS = {"html", "head", "meta", "title", "style", "link", "body", "nav", "div", "h1", "h2", "h3", "h4", "p",
             "ul", "li", "a", "strong", "em", "section", "hr", "span"}


@pytest.mark.timeout(180)
def test_hostile_mail_is_inert_on_every_page_and_in_the_feed(env: tuple[Settings, Store], tmp_path: Path) -> None:
    settings, store = env
    ingest(store, [RawMail(make(), f"hostile#{i}") for i, make in enumerate(hm.SAMPLES.values())], settings.limits)
    start, end = period_for(settings, week_of=datetime(2014, 8, 20), since=None, until=None)
    approved(store, settings, build_digest(store, settings, start, end))
    send_approved(store, settings)

    site = tmp_path / "hostile-site"
    publish(store, settings, site)

    pages = sorted(site.glob("*.html"))
    assert len(pages) == 2 and check_links(site) > 10
    for path in pages:
        found = page(path)
        assert found.tags <= SAFE_TAGS, (path.name, found.tags - SAFE_TAGS)
        for name, value in found.attributes:
            assert not name.startswith("on") and name in {"href", "id", "class", "style", "title", "lang", "charset",
                                                          "name", "content", "rel", "type"}, (path.name, name)
            assert not value.strip().lower().startswith(("javascript:", "data:", "vbscript:")), (path.name, value)
    raw_feed = (site / "feed.xml").read_bytes()
    feed = feedparser.parse(raw_feed)
    assert not feed.bozo and len(feed.entries) == 1
    assert b"<script" not in raw_feed.lower() and b"<img" not in raw_feed.lower()
    # The Markdown, rendered by a site that lets raw HTML through: still only text.
    markdown = next(site.glob("*.md")).read_text()
    front, body = markdown.removeprefix("---\n").split("\n---\n", 1)
    rendered = page_of(MarkdownIt("commonmark", {"html": True}).render(body))
    assert rendered.tags <= SAFE_TAGS and all(name == "href" for name, _ in rendered.attributes), rendered.tags
    assert not any(href.lower().startswith("javascript:") for href in rendered.links)
    assert "<" not in front and ">" not in front and yaml.safe_load(front)["subject"]


# -- atomic and idempotent ------------------------------------------------------------

DIE_AT_RENAME = """
import os, signal, sys
real, count = os.replace, [0]
def dying(src, dst):
    count[0] += 1
    if count[0] == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)  # as a crash or kill -9 would, mid-publish
    real(src, dst)
os.replace = dying
from bot.cli.main import main
main(sys.argv[2:])
"""


@pytest.mark.timeout(240)
def test_a_publish_killed_halfway_leaves_every_file_whole(env: tuple[Settings, Store], tmp_path: Path) -> None:
    settings, store = env
    approved(store, settings, digest_of(W1, "FIRSTWEEK"))
    send_approved(store, settings)
    site = tmp_path / "killed"
    publish(store, settings, site)
    old = snapshot(site)
    approved(store, settings, digest_of(W1 + WEEK, "SECONDWEEK"))
    send_approved(store, settings)
    publish(store, settings, tmp_path / "whole")
    new = snapshot(tmp_path / "whole")
    changed = sorted(name for name in new if old.get(name) != new[name])
    assert changed == ["2014-08-25-2.html", "2014-08-25-2.md", "feed.xml", "index.html"]

    for die_at in range(1, len(changed) + 1):
        for path in site.iterdir():
            path.unlink()
        for name, data in old.items():
            (site / name).write_bytes(data)
        killed = subprocess.run([sys.executable, "-c", DIE_AT_RENAME, str(die_at), "--config",
                                 settings.config_path, "publish", "--output", str(site)],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert killed.returncode == -9, killed.stderr
        now = snapshot(site)
        leftovers = [name for name in now if name.endswith(".publishing")]
        assert len(leftovers) == 1  # the file being renamed when the process died
        for name, data in now.items():
            if name not in leftovers:
                assert data in (old.get(name), new[name]), f"{name} is neither the old nor the new file"
        # The index is written last and the feed before it: until then, they are the previous site's.
        assert now["index.html"] == old["index.html"]
        assert now["feed.xml"] == (old if die_at <= 3 else new)["feed.xml"]
        check_links(site)

        again = ok(cli(Path(settings.config_path), "publish", "--output", str(site), "--format", "json"))
        assert '"leftovers_removed": 1' in again
        assert snapshot(site) == new
