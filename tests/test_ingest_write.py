"""The import's sqlite3 write path (bot/store/sqlite_writer.py) writes what the Store writes, to the same schema."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from bot.mail.ingest import ingest
from bot.model import RawMail
from bot.settings import LimitSettings
from bot.store import open_store_writer
from bot.store.database import open_store
from bot.store.identity import MESSAGE_ID_LINE, derived_key, find_message_id_header, identify
from bot.store.schema import SCHEMA_VERSION, TABLES
from bot.store.sqlite_writer import SqliteStoreWriter
from bot.store.tables import metadata
from tests.helpers.mailfactory import make_raw
from tests.helpers.version2 import make_version_2_store, version_2_key

HOSTILE = [b"no headers at all", b"Subject: =?bogus?Q?x?=\n\nbody\n", b"From: a@b.c\nDate: never\n\n\xff\xfe\n"]


def _structure(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """What SQLite says of a store's schema: tables and indexes, and each table's columns, keys and indexes."""
    with sqlite3.connect(db) as conn:
        master = sorted(conn.execute("SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
        out: dict[str, list[tuple[object, ...]]] = {"master": master}
        for _, table, _ in (row for row in master if row[0] == "table"):
            out[table] = [*conn.execute(f"PRAGMA table_info({table})"),
                          *sorted(conn.execute(f"PRAGMA foreign_key_list({table})"))]
            for _, index, unique, origin, partial in sorted(conn.execute(f"PRAGMA index_list({table})")):
                name = index if origin == "c" else origin  # sqlite_autoindex_* names depend on order
                columns = (row[2] for row in conn.execute(f"PRAGMA index_info({index})"))
                out[table].append((name, unique, partial, *columns))
    return out


def test_an_older_store_is_migrated_to_what_a_new_one_is(tmp_path: Path) -> None:
    """A new store with what version 3 added taken away (no fingerprint or header_id, no schedule_runs: the
    scheduler made that itself, or nothing did) and version 1 recorded, so every migration runs on it. It is
    not a real old store (the later tables are there already): see the version-2 tests below for one."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    store = open_store(url)
    store.add_raw([RawMail(make_raw(n), "t") for n in range(3)])
    store.close()
    with sqlite3.connect(tmp_path / "old.sqlite3") as conn:
        conn.execute("DROP INDEX ix_messages_state")
        conn.execute("DROP TABLE schedule_runs")
        conn.execute("ALTER TABLE messages DROP COLUMN fingerprint")
        conn.execute("ALTER TABLE messages DROP COLUMN header_id")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    assert open_store_writer(url) is None  # to migrate: the Store's job

    store = open_store(url)
    [again] = store.add_raw([RawMail(make_raw(1), "t")])
    store.close()

    assert not again.new  # found by its key, and its fingerprint was filled in
    open_store(f"sqlite:///{tmp_path / 'new.sqlite3'}").close()
    assert _structure(tmp_path / "old.sqlite3") == _structure(tmp_path / "new.sqlite3")
    with sqlite3.connect(tmp_path / "old.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM messages WHERE fingerprint IS NULL").fetchone() == (0,)
        assert conn.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)


def _rows(db: Path) -> list[tuple[object, ...]]:
    """Every messages and message_raw row, but the import time (the date of undated mail too)."""
    with sqlite3.connect(db) as conn:
        names = [row[1] for row in conn.execute("PRAGMA table_info(messages)") if row[1] != "imported_at"]
        names[names.index("date")] = "CASE WHEN flags LIKE '%no-date%' THEN length(date) ELSE date END"
        messages = conn.execute(f"SELECT {', '.join(names)} FROM messages ORDER BY id").fetchall()
        raw = conn.execute("SELECT message_pk, raw FROM message_raw ORDER BY message_pk").fetchall()
    return [*messages, *raw]


def test_a_new_store_has_the_schema_sqlalchemy_creates(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path / 'a.sqlite3'}").engine.dispose()
    writer = open_store_writer(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    assert writer is not None
    writer.close()

    # The same tables, columns, keys and indexes, made from the one schema both ways.
    assert _structure(tmp_path / "b.sqlite3") == _structure(tmp_path / "a.sqlite3")
    assert {name for kind, name, _ in _structure(tmp_path / "a.sqlite3")["master"] if kind == "table"} \
        == set(metadata.tables) == {table.name for table in TABLES}
    store = open_store(f"sqlite:///{tmp_path / 'b.sqlite3'}")  # current: opened as it is
    assert store.counts()["messages"] == 0
    store.engine.dispose()
    assert (tmp_path / "b.sqlite3").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("workers", [False, True])
def test_both_paths_store_and_parse_the_same_rows(tmp_path: Path, workers: bool) -> None:
    raws = [make_raw(n) for n in range(900 if workers else 40)] + HOSTILE
    mails = [RawMail(raw, f"t#{i}") for i, raw in enumerate(raws)]
    mails.append(mails[3])  # a duplicate
    expected = None if workers else len(mails)
    store = open_store(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    writer = open_store_writer(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    assert writer is not None

    one = ingest(store, mails, LimitSettings(), expected=expected)
    other = ingest(writer, mails, LimitSettings(), expected=expected)

    assert one == other and one.flagged >= 1 and one.duplicates == 1
    store.engine.dispose()
    writer.close()
    assert _rows(tmp_path / "b.sqlite3") == _rows(tmp_path / "a.sqlite3")
    with sqlite3.connect(tmp_path / "a.sqlite3") as a, sqlite3.connect(tmp_path / "b.sqlite3") as b:
        stamps = [conn.execute("SELECT imported_at, typeof(imported_at) FROM messages LIMIT 1").fetchone()
                  for conn in (a, b)]
    assert len(stamps[0][0]) == len(stamps[1][0]) and stamps[0][1] == stamps[1][1] == "text"


def test_what_the_writer_stores_the_store_reads_and_finishes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    writer = open_store_writer(url)
    assert writer is not None
    stored = writer.add_raw([RawMail(make_raw(n), "t") for n in range(5)])  # as if killed before parsing
    writer.close()
    store = open_store(url)
    assert store.unparsed() == [s.pk for s in stored]

    report = ingest(store, [], LimitSettings())

    assert report.parsed == 5 and store.counts()["parsed"] == 5
    store.engine.dispose()


def test_stores_the_writer_does_not_open(tmp_path: Path) -> None:
    assert open_store_writer("sqlite://") is None
    assert open_store_writer("sqlite:///:memory:") is None
    assert open_store_writer("postgresql://u@localhost/x") is None
    older = tmp_path / "old.sqlite3"
    open_store(f"sqlite:///{older}").engine.dispose()
    with sqlite3.connect(older) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    assert open_store_writer(f"sqlite:///{older}") is None  # to migrate: the Store's job
    half = tmp_path / "half.sqlite3"
    engine = sa.create_engine(f"sqlite:///{half}")
    with engine.begin() as conn:
        metadata.sorted_tables[0].create(conn)
    engine.dispose()
    assert open_store_writer(f"sqlite:///{half}") is None  # left half-created: the Store finishes it
    store = open_store(f"sqlite:///{half}")
    store.engine.dispose()
    assert isinstance(open_store_writer(f"sqlite:///{half}"), SqliteStoreWriter)


@given(st.lists(st.sampled_from([b"Message-ID: <a@b>", b"message-id:<x@y> ", b"X-Original-Message-ID: <o@p>",
                                 b"  continued <c@d>", b"Subject: message-id: <s@t>", b"MESSAGE-ID:", b"\r",
                                 b"From: a@b", b"Message-Id: <m@n>\r\n\t<second@n>", b"", b"\xff\xfe"]),
                max_size=12), st.sampled_from([b"\n", b"\r\n"]))
def test_the_message_id_is_found_as_the_regex_finds_it(lines: list[bytes], newline: bytes) -> None:
    head = newline.join(lines)
    expected = MESSAGE_ID_LINE.search(head)
    found = find_message_id_header(head)
    assert (found and (found.start(), found.group(1))) == (expected and (expected.start(), expected.group(1)))


def _v2_mail(n: int, message_id: str) -> bytes:
    return (f"From: ann@example.org\nSubject: old {n}\nDate: Mon, 18 Aug 2014 10:0{n}:00 +0000\n"
            f"Message-ID: {message_id}\n\nbody {n}\n").encode()


def test_a_real_version_2_store_is_rekeyed_so_a_reimport_adds_nothing(tmp_path: Path) -> None:
    """Version 2 keyed any Message-ID without a space; this version keys malformed ones by content.

    The store is made with version 2's own DDL and keys (tests/helpers/version2.py), and
    holds a draft that names a message by its old key.
    """
    raws = [_v2_mail(1, "<12345.67890>"), _v2_mail(2, ">"), _v2_mail(3, "<abc>>"), _v2_mail(4, "<n4@example.org>"),
            _v2_mail(5, "<tab\there@example.org>")]
    old_keys = [version_2_key(raw) for raw in raws]
    assert old_keys[:3] == ["<12345.67890>", "<>>", "<abc>"]  # kept as keys by version 2, malformed now
    path = tmp_path / "v2.sqlite3"
    make_version_2_store(path, raws)
    data = json.dumps({"digest": {"sections": [{"items": [{"message_ids": ["<12345.67890>", "<n4@example.org>"],
                                                           "summary": [{"message_id": "<abc>", "text": "x"}]}]}]},
                       "text": "<12345.67890>", "html": ""})
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO digests VALUES (1, '2014-08-18 00:00:00.000000', '2014-08-25 00:00:00.000000', "
                     "'sent', 1, '<d@x>', '2014-08-25 00:00:00.000000', '2014-08-25 00:00:00.000000', NULL, NULL)")
        conn.execute("INSERT INTO digest_revisions VALUES (1, 1, 's', 'm', ?, '2014-08-25 00:00:00.000000', 'ann')",
                     (data,))
    conn.close()
    url = f"sqlite:///{path}"

    store = open_store(url)
    again = store.add_raw([RawMail(raw, "t") for raw in raws])  # the same mail, imported again
    assert [s.new for s in again] == [False] * len(raws)
    assert store.counts()["messages"] == len(raws) and store.collisions() == 0
    new_keys = [s.message_id for s in again]
    assert new_keys[3] == "<n4@example.org>" and all(k.startswith("<sha256-") for k in new_keys[:3])
    [revision] = [store.drafts.revision(1, 1)]
    assert revision is not None
    item = revision.data["digest"]["sections"][0]["items"][0]
    assert item["message_ids"] == [new_keys[0], "<n4@example.org>"]
    assert item["summary"][0]["message_id"] == new_keys[2]
    assert revision.data["text"] == "<12345.67890>"  # what was rendered stays as it was
    store.close()

    writer = open_store_writer(url)  # the import's fast path finds them too
    assert writer is not None
    assert [s.new for s in writer.add_raw([RawMail(raw, "t") for raw in raws])] == [False] * len(raws)
    writer.close()


def test_version_2_rows_that_trade_keys_are_rekeyed_whole(tmp_path: Path) -> None:
    raws = [_v2_mail(1, "<12345.67890>"), _v2_mail(2, "<n2@example.org>")]
    path = tmp_path / "v2.sqlite3"
    # The second message's row sits under the key the first one's content gives it now.
    # Two rows leave their old keys in the migration; the second goes where the first was, and back.
    make_version_2_store(path, raws, keys=["<12345.67890>", identify(raws[0]).key])
    store = open_store(f"sqlite:///{path}")
    again = store.add_raw([RawMail(raw, "t") for raw in raws])
    assert [s.new for s in again] == [False, False] and store.counts()["messages"] == 2
    assert [s.message_id for s in again] == [identify(raws[0]).key, "<n2@example.org>"]
    store.close()


def test_a_version_2_row_whose_new_key_is_taken_gets_a_derived_key(tmp_path: Path) -> None:
    raw = _v2_mail(1, "<12345.67890>")
    path = tmp_path / "v2.sqlite3"
    # A copy of the same mail already under its content key (not something version 2 wrote, but possible).
    make_version_2_store(path, [raw, raw], keys=["<12345.67890>", identify(raw).key])
    store = open_store(f"sqlite:///{path}")
    [again] = store.add_raw([RawMail(raw, "t")])
    assert not again.new and again.message_id == identify(raw).key and store.counts()["messages"] == 2
    store.close()
    with sqlite3.connect(path) as conn:
        keys = sorted(row[0] for row in conn.execute("SELECT message_id FROM messages"))
    conn.close()
    assert keys == sorted([identify(raw).key, derived_key(identify(raw).key, identify(raw).fingerprint)])


def test_a_pooled_import_parses_every_batch_in_a_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a last batch of a few messages: parsing one in the main process would load the parser there."""
    import os

    from bot.mail import ingest as ingesting

    main, parse_batch = os.getpid(), ingesting.parse_batch

    def in_a_worker(*args: object) -> object:  # the forked workers inherit this too
        assert os.getpid() != main, "parsed in the main process"
        return parse_batch(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingesting, "parse_batch", in_a_worker)
    # The short batches, the long ones after them, and a last one of three messages.
    count = ingesting.RAMP * ingesting.POOLED_BATCH + ingesting.BATCH + 3
    mails = [RawMail(make_raw(n), f"t#{n}") for n in range(count)]
    writer = open_store_writer(f"sqlite:///{tmp_path / 's.sqlite3'}")
    assert writer is not None
    report = ingest(writer, mails, LimitSettings(), expected=None)
    writer.close()
    assert (report.read, report.new, report.parsed + report.flagged) == (count, count, count)
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM messages WHERE state = 'new'").fetchone() == (0,)
