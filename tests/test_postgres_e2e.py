"""End to end on a real PostgreSQL: the demo week imported, drafted, approved and sent through the CLI.

And the same week drafted from an SQLite store and from a PostgreSQL store is
the same digest, byte for byte.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

import bot
from bot.errors import StoreError
from bot.mail.ingest import ingest
from bot.model import RawMail
from bot.pipeline.digest import build_digest, period_for, render_options
from bot.render.digest import render
from bot.settings import load_settings, with_store
from bot.store.database import attach_store, open_store
from tests.helpers import hostile_mail as hm
from tests.helpers.dovecot import Dovecot
from tests.helpers.dovecot import write_config as imap_config
from tests.helpers.mailfactory import make_raw
from tests.helpers.postgres import PASSWORD
from tests.helpers.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
DEMO_MBOX = Path(bot.__file__).parent / "demo" / "week.mbox"
DEMO_CONFIG = ROOT / "config" / "demo.toml"
LIST = "driftwood-devel@lists.driftwood.example"
BOT = "digestbot@driftwood.example"


def write_config(tmp_path: Path, store_url: str, smtp: SmtpServer | None = None) -> Path:
    """The demo's config, on the given store, sending to `smtp` in list mode."""
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    assert 'path = ":memory:"' in text
    text = text.replace('path = ":memory:"', f'url = "{store_url}"')
    if smtp is not None:
        text += (f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\ntls = "none"\nfrom_address = "{BOT}"\n'
                 'mode = "list"\ntimeout = 5.0\n')
    path = tmp_path / "digestbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli.main", "--config", str(config), *args], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, text=True, timeout=180)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    return result.stdout


def imported(line: str) -> dict[str, int]:
    """`PATH: 57 read, 56 new, 1 already stored, ...` as {"read": 57, "new": 56, ...}."""
    return {name: int(n) for n, name in re.findall(r"(\d+) ([a-z][a-z ]*[a-z])", line.partition(": ")[2])}


def test_import_draft_approve_send_on_postgresql(tmp_path: Path, postgres_url: str,
                                                 smtp_server: SmtpServer) -> None:
    config = write_config(tmp_path, postgres_url, smtp_server)
    first = imported(ok(cli(config, "import", str(DEMO_MBOX))))
    assert first["read"] == 57 and 50 <= first["new"] == first["parsed"] and first["flagged"] == 0
    again = imported(ok(cli(config, "import", str(DEMO_MBOX))))
    assert (again["new"], again["already stored"]) == (0, 57)  # nothing is stored twice
    status = json.loads(ok(cli(config, "status", "--format", "json")))
    assert status["messages"]["messages"] == first["new"] and status["messages"]["unparsed"] == 0
    assert status["store"].startswith("postgresql+psycopg://") and status["integrity"] == "n/a"

    stored = ok(cli(config, "draft", "--week-of", "2014-08-20", "--save"))
    assert stored.startswith("stored draft #1 (revision 1): [driftwood-devel] Weekly Meeting: 2014-08-20")
    [row] = json.loads(ok(cli(config, "review", "--format", "json")))
    assert (row["id"], row["state"], row["period"]) == (1, "drafted", "2014-08-18..2014-08-24")
    assert "revision 1 approved" in ok(cli(config, "approve", "1"))
    sent = ok(cli(config, "send"))
    assert sent.startswith("#1 [driftwood-devel] Weekly Meeting") and "sent to 1 of 1 (done)" in sent
    [got] = smtp_server.received
    assert (got.mail_from, got.rcpt_tos) == (BOT, (LIST,))
    assert str(got.message["Subject"]).startswith("[driftwood-devel] Weekly Meeting: 2014-08-20")
    assert ok(cli(config, "send")).strip() == "nothing to send"
    [row] = json.loads(ok(cli(config, "review", "--format", "json")))
    assert [t["to"] for t in row["transitions"]] == ["drafted", "approved", "sent"]
    assert [(d["recipient"], d["state"]) for d in row["deliveries"]] == [(LIST, "sent")]


def test_sqlite_and_postgresql_draft_the_same_week(tmp_path: Path, postgres_url: str) -> None:
    formats = ("json", "text", "markdown", "eml")  # eml: the mail `send` would send, dated by its period
    drafts = []
    for name, url in (("sqlite", f"sqlite:///{tmp_path / 'store.sqlite3'}"), ("postgresql", postgres_url)):
        folder = tmp_path / name
        folder.mkdir()
        config = write_config(folder, url)
        ok(cli(config, "import", str(DEMO_MBOX)))
        drafts.append([ok(cli(config, "draft", "--week-of", "2014-08-20", "--format", fmt)) for fmt in formats])
    sqlite, postgresql = drafts
    assert all(len(text) > 1000 and "Weekly Meeting: 2014-08-20" in text for text in sqlite)
    for fmt, from_sqlite, from_postgresql in zip(formats, sqlite, postgresql, strict=True):
        assert from_postgresql == from_sqlite, fmt


def test_a_hostile_week_drafts_the_same_from_both(tmp_path: Path, postgres_url: str) -> None:
    """NUL bytes, broken charsets, 2 MB lines: PostgreSQL stores what SQLite stores, as far as a digest can tell."""
    settings = load_settings(write_config(tmp_path, postgres_url))
    raws = [RawMail(make(), f"test#{i}") for i, make in enumerate(hm.SAMPLES.values())]
    start, end = period_for(settings, week_of=datetime(2014, 8, 20), since=None, until=None)
    rendered = []
    for url in (f"sqlite:///{tmp_path / 'store.sqlite3'}", postgres_url):
        store = open_store(url)
        report = ingest(store, raws, settings.limits, expected=len(raws))
        assert report.new == report.parsed + report.flagged == len(raws) and store.counts()["unparsed"] == 0
        digest = build_digest(store, with_store(settings, url), start, end)
        rendered.append([render(digest, fmt, render_options(settings)) for fmt in ("json", "text", "markdown")])
        store.engine.dispose()
    assert rendered[0] == rendered[1]


def test_poll_from_imap_into_postgresql(tmp_path: Path, postgres_url: str, dovecot: Dovecot) -> None:
    """The sync state of each folder lives in the PostgreSQL store (no sqlite3 fast path there)."""
    dovecot.deliver("INBOX", [make_raw(1), make_raw(2), make_raw(3, reply_to=1)])
    dovecot.create_folder("Lists/dev")
    config = imap_config(tmp_path / "c.toml", dovecot, folders=["INBOX", "Lists/dev"])
    config.write_text(config.read_text().replace('path = "store.sqlite3"', f'url = "{postgres_url}"'))
    assert ok(cli(config, "poll")) == "INBOX: 3 new (0 already stored), last UID 3; Lists/dev: nothing new\n"
    assert ok(cli(config, "poll")) == "INBOX: nothing new; Lists/dev: nothing new\n"
    dovecot.deliver("INBOX", [make_raw(4)])
    assert ok(cli(config, "poll", "--folder", "INBOX")).startswith("INBOX: 1 new (0 already stored), last UID 4")
    status = json.loads(ok(cli(config, "status", "--format", "json")))
    assert status["messages"]["messages"] == 4 and status["messages"]["unparsed"] == 0
    inbox, dev = status["folders"]
    assert (inbox["folder"], inbox["last_uid"], inbox["last_error"]) == ("INBOX", 4, None)
    assert inbox["last_poll_at"].endswith("+00:00") and dev["folder"] == "Lists/dev"


def test_a_wrong_password_is_one_line_without_it(tmp_path: Path, postgres_url: str) -> None:
    wrong = postgres_url.replace(f":{PASSWORD}@", ":not-the-Pa55word@")
    failed = cli(write_config(tmp_path, wrong), "status")
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    assert "store postgresql+psycopg://digestbot:***@127.0.0.1" in failed.stderr
    assert "password authentication failed" in failed.stderr
    assert "not-the-Pa55word" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    with pytest.raises(StoreError, match=r"^store postgresql\+psycopg://digestbot:\*\*\*@127.0.0.1:") as caught:
        attach_store(wrong).counts()  # a store already open when the server turns it away: the same one line
    assert "not-the-Pa55word" not in str(caught.value)
