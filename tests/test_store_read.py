"""The light sqlite3 mail reader returns what the Store returns, and a draft through it skips SQLAlchemy."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import bot
from bot.errors import StoreError
from bot.mail.ingest import ingest
from bot.mail.source import open_source
from bot.settings import LimitSettings
from bot.store import open_mail_reader
from bot.store.database import Store, open_store
from bot.store.sqlite_reader import SqliteMailReader

ROOT = Path(__file__).resolve().parents[1]
DEMO = Path(bot.__file__).parent / "demo" / "week.mbox"
EVERYTHING = (datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


@pytest.fixture()
def demo_store(tmp_path: Path) -> tuple[str, Store]:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = open_store(url)
    ingest(store, open_source(DEMO), LimitSettings(), expected=None)
    return url, store


def test_reads_what_the_store_reads(demo_store: tuple[str, Store]) -> None:
    url, store = demo_store
    reader = open_mail_reader(url)
    assert isinstance(reader, SqliteMailReader)
    everything = store.mails_between(*EVERYTHING)
    assert len(everything) >= 50
    assert reader.mails_between(*EVERYTHING) == everything
    middle = everything[len(everything) // 3].date, everything[2 * len(everything) // 3].date
    assert 0 < len(reader.mails_between(*middle)) == len(store.mails_between(*middle)) < len(everything)
    assert reader.mails_between(*middle) == store.mails_between(*middle)
    ids = [m.message_id for m in everything[::3]] + ["<unknown@example.org>"]
    assert sorted(reader.mails_by_ids(ids), key=repr) == sorted(store.mails_by_ids(ids), key=repr)
    assert {m.message_id for m in reader.mails_by_ids(ids)} == set(ids[:-1])


def test_many_ids_are_read_in_chunks(demo_store: tuple[str, Store]) -> None:
    url, store = demo_store
    reader = open_mail_reader(url)
    assert reader is not None
    ids = [m.message_id for m in store.mails_between(*EVERYTHING)] + [f"<{n}@nowhere>" for n in range(1200)]
    assert len(reader.mails_by_ids(ids)) == len(store.mails_by_ids(ids)) >= 50


def test_the_store_opens_what_the_reader_cannot(tmp_path: Path, demo_store: tuple[str, Store]) -> None:
    assert open_mail_reader(f"sqlite:///{tmp_path / 'missing.sqlite3'}") is None
    assert not (tmp_path / "missing.sqlite3").exists()  # never created by the reader
    assert open_mail_reader("postgresql://user@localhost/digestbot") is None
    assert open_mail_reader("sqlite://") is None
    sqlite3.connect(tmp_path / "empty.sqlite3").close()
    assert open_mail_reader(f"sqlite:///{tmp_path / 'empty.sqlite3'}") is None  # no schema yet
    url, store = demo_store
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    assert open_mail_reader(url) is None  # to be migrated by the Store


def test_a_damaged_store_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    path.write_bytes(b"this is not a database, just some text that is long enough" * 200)
    with pytest.raises(StoreError, match="not a database"):
        open_mail_reader(f"sqlite:///{path}")


def test_a_draft_reads_without_sqlalchemy_and_drafts_the_same(demo_store: tuple[str, Store],
                                                              tmp_path: Path) -> None:
    from bot.cli.context import render_digest
    from bot.pipeline.digest import build_digest, period_for
    from bot.settings import load_settings

    url, store = demo_store
    config = tmp_path / "digestbot.toml"
    config.write_text(f'[list]\nname = "demo"\naddress = "demo@lists.example.org"\n[store]\nurl = "{url}"\n',
                      encoding="utf-8")
    first = min(m.date for m in store.mails_between(*EVERYTHING))
    output = tmp_path / "draft.json"
    probe = ("import sys; from bot.cli.main import main; main(sys.argv[1:]); "
             "print('sqlalchemy' in sys.modules, 'bot.store.database' in sys.modules)")
    argv = ["-q", "-c", str(config), "draft", "--week-of", f"{first:%Y-%m-%d}", "--format", "json", "-o", str(output)]
    result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "False False\n"
    settings = load_settings(str(config))
    start, end = period_for(settings, week_of=first, since=None, until=None)
    expected = render_digest(settings, build_digest(store, settings, start, end, title_date=first.date()), "json")
    assert output.read_text(encoding="utf-8") == expected
    assert '"messages": 0' not in expected
