"""Storing raw mail and parsed rows without SQLAlchemy, for an import into a plain `sqlite:///` store.

Importing SQLAlchemy costs about a quarter of a second, more than parsing a
thousand messages; `digestbot import` and its parse workers pay it for
nothing when the store is an SQLite file. :func:`open_store_writer` opens such
a store with the stdlib `sqlite3` module when its schema is current, and
creates a new one (empty file or none) with the very statements SQLAlchemy
emits for bot/store/database.py's tables (`SCHEMA_SQL`; a test compares the two).
Anything else (another database, a store to migrate or left half-created)
gets None, and the caller opens the Store. The values written come from the
same functions on both paths (`message_row`, `parsed_row`, `sqlite_pragmas`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bot.errors import sqlite_file_error
from bot.model import Mail, RawMail
from bot.store.sqlite_reader import SCHEMA_VERSION
from bot.store.syncstate import sqlite_path

T = TypeVar("T")
# How SQLAlchemy's SQLite DateTime type stores a value (the store's are all in UTC).
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
_IDS_PER_QUERY = 500  # below SQLite's limit on bound parameters

_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_ANGLE_ID = re.compile(rb"<([^<>\s]{1,900})>")

# The schema of bot/store/database.py as SQLAlchemy creates it on SQLite, in its order (tests/test_ingest_write.py
# checks this against a store that open_store created: regenerate it from one when the tables change).
SCHEMA_SQL = (
    'CREATE TABLE meta (\n\t"key" VARCHAR(64) NOT NULL, \n\tvalue TEXT NOT NULL, \n\tPRIMARY KEY ("key")\n)',
    "CREATE TABLE messages (\n\tid INTEGER NOT NULL, \n\tmessage_id VARCHAR(998) NOT NULL, \n\t"
    "sha256 VARCHAR(64) NOT NULL, \n\tsize INTEGER NOT NULL, \n\torigin TEXT NOT NULL, \n\t"
    "imported_at DATETIME NOT NULL, \n\tstate VARCHAR(16) NOT NULL, \n\tflags TEXT NOT NULL, \n\t"
    "date DATETIME, \n\tsubject TEXT, \n\tfrom_name TEXT, \n\tfrom_addr TEXT, \n\tin_reply_to TEXT, \n\t"
    "refs TEXT, \n\tbody TEXT, \n\tattachments TEXT, \n\tPRIMARY KEY (id), \n\tUNIQUE (message_id)\n)",
    "CREATE INDEX ix_messages_state ON messages (state)",
    "CREATE INDEX ix_messages_date ON messages (date)",
    "CREATE TABLE sync_state (\n\tfolder VARCHAR(512) NOT NULL, \n\tuidvalidity BIGINT, \n\t"
    "last_uid BIGINT NOT NULL, \n\tlast_poll_at DATETIME, \n\tlast_error TEXT, \n\tPRIMARY KEY (folder)\n)",
    "CREATE TABLE digests (\n\tid INTEGER NOT NULL, \n\tperiod_start DATETIME NOT NULL, \n\t"
    "period_end DATETIME NOT NULL, \n\tstate VARCHAR(24) NOT NULL, \n\trevision INTEGER NOT NULL, \n\t"
    "mail_message_id VARCHAR(998) NOT NULL, \n\tcreated_at DATETIME NOT NULL, \n\t"
    "updated_at DATETIME NOT NULL, \n\treminded_at DATETIME, \n\tsuperseded_by INTEGER, \n\tPRIMARY KEY (id)\n)",
    "CREATE INDEX ix_digests_period ON digests (period_start, period_end)",
    "CREATE TABLE subscribers (\n\taddress VARCHAR(512) NOT NULL, \n\tname TEXT NOT NULL, \n\t"
    "active BOOLEAN NOT NULL, \n\tchanged_at DATETIME NOT NULL, \n\tchanged_via VARCHAR(16) NOT NULL, \n\t"
    "PRIMARY KEY (address)\n)",
    "CREATE TABLE used_tokens (\n\ttoken VARCHAR(128) NOT NULL, \n\tused_at DATETIME NOT NULL, \n\t"
    "message_id VARCHAR(998) NOT NULL, \n\tPRIMARY KEY (token)\n)",
    "CREATE TABLE message_raw (\n\tmessage_pk INTEGER NOT NULL, \n\traw BLOB NOT NULL, \n\t"
    "PRIMARY KEY (message_pk), \n\tFOREIGN KEY(message_pk) REFERENCES messages (id)\n)",
    "CREATE TABLE digest_revisions (\n\tdigest_id INTEGER NOT NULL, \n\trevision INTEGER NOT NULL, \n\t"
    "subject TEXT NOT NULL, \n\tmarkdown TEXT NOT NULL, \n\tdata TEXT NOT NULL, \n\t"
    "created_at DATETIME NOT NULL, \n\tcreated_by TEXT NOT NULL, \n\tPRIMARY KEY (digest_id, revision), \n\t"
    "FOREIGN KEY(digest_id) REFERENCES digests (id)\n)",
    "CREATE TABLE transitions (\n\tid INTEGER NOT NULL, \n\tdigest_id INTEGER NOT NULL, \n\t"
    "from_state VARCHAR(24), \n\tto_state VARCHAR(24) NOT NULL, \n\tactor TEXT NOT NULL, \n\t"
    "via VARCHAR(16) NOT NULL, \n\tat DATETIME NOT NULL, \n\tnote TEXT NOT NULL, \n\tPRIMARY KEY (id), \n\t"
    "FOREIGN KEY(digest_id) REFERENCES digests (id)\n)",
    "CREATE INDEX ix_transitions_digest_id ON transitions (digest_id)",
    "CREATE TABLE deliveries (\n\tdigest_id INTEGER NOT NULL, \n\trecipient VARCHAR(512) NOT NULL, \n\t"
    "revision INTEGER NOT NULL, \n\tstate VARCHAR(16) NOT NULL, \n\tattempts INTEGER NOT NULL, \n\t"
    "last_error TEXT, \n\tupdated_at DATETIME NOT NULL, \n\tPRIMARY KEY (digest_id, recipient), \n\t"
    "FOREIGN KEY(digest_id) REFERENCES digests (id)\n)",
)


def now() -> datetime:
    return datetime.now(UTC)


def message_id_of(raw: bytes) -> str:
    """The Message-ID from the header block, or a stable one from the bytes' hash."""
    head_end = raw.find(b"\n\n")
    head_end2 = raw.find(b"\r\n\r\n")
    ends = [e for e in (head_end, head_end2) if e >= 0]
    head = raw[: min(ends)] if ends else raw[:65536]
    match = _message_id_header(head)
    if match:
        angle = _ANGLE_ID.search(match.group(1))
        value = angle.group(1) if angle else match.group(1).strip()
        if value and len(value) < 900 and b" " not in value:
            return "<" + value.decode("ascii", "replace") + ">"
    return f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@digestbot.invalid>"


def _message_id_header(head: bytes) -> re.Match[bytes] | None:
    """`_MESSAGE_ID.search(head)`, found with a case-folded find first: a regex tried at every line is slow."""
    folded = head.lower()  # ASCII-only, as IGNORECASE is for bytes
    start = folded.find(b"message-id:")
    while start > 0 and head[start - 1] != 0x0A:  # not at a line start ("X-Original-Message-ID:", a body line)
        start = folded.find(b"message-id:", start + 1)
    return _MESSAGE_ID.match(head, start) if start >= 0 else None


@dataclass(frozen=True, slots=True)
class Stored:
    """The outcome of storing one raw message."""

    pk: int
    message_id: str
    new: bool
    raw: bytes


class RawStore(Protocol):
    """What ingest needs of a store: the Store (bot/store/database.py), or the SqliteStoreWriter here."""

    @property
    def shared_url(self) -> str | None: ...

    def add_raw(self, batch: Sequence[RawMail]) -> list[Stored]: ...

    def raw_of(self, pks: Sequence[int]) -> Iterator[tuple[int, bytes]]: ...

    def unparsed(self) -> list[int]: ...

    def save_parsed(self, parsed: Iterable[tuple[int, Mail]]) -> None: ...

    def checkpoint(self) -> None: ...


def message_row(message_id: str, mail: RawMail, stamp: datetime) -> dict[str, Any]:
    """The `messages` row of a newly stored message (its raw bytes go to `message_raw`)."""
    return {"message_id": message_id, "sha256": hashlib.sha256(mail.raw).hexdigest(), "size": len(mail.raw),
            "origin": mail.origin, "imported_at": stamp, "state": "new", "flags": ""}


def parsed_row(pk: int, mail: Mail) -> dict[str, Any]:
    """What parsing sets in the `messages` row `pk` ("pk" is the key, the rest are columns)."""
    return {
        "pk": pk, "state": "flagged" if mail.flags else "parsed", "flags": " ".join(sorted(mail.flags)),
        "date": mail.date.astimezone(UTC), "subject": mail.subject, "from_name": mail.from_name,
        "from_addr": mail.from_addr,
        "in_reply_to": mail.in_reply_to, "refs": " ".join(mail.references), "body": mail.body,
        "attachments": json.dumps(list(mail.attachments)),
    }


def sqlite_pragmas(dbapi_conn: Any) -> None:
    """Every connection to an SQLite store, through SQLAlchemy or not, is set up by this."""
    old_umask = os.umask(0o077)  # the -wal and -shm files are private too
    try:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint the WAL into the database every ~40 MB, not every 4 MB (SQLite's default): each
        # checkpoint fsyncs, and an import of raw mail would otherwise spend a third of its writing there.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
    finally:
        os.umask(old_umask)


def create_private(path: Path) -> None:
    """The store holds private mail: its file is owner-only, made so before SQLite creates it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))


def open_store_writer(url: str) -> SqliteStoreWriter | None:
    """The sqlite3 writer for a plain SQLite file store, created if new; None when the Store must open it."""
    path = sqlite_path(url)
    if path is None:
        return None
    try:
        create_private(path)
    except OSError:
        return None  # the Store says why, in its words
    writer = SqliteStoreWriter(path, url)
    if not writer.ready():
        writer.close()
        return None
    return writer


def attach_writer(url: str) -> RawStore:
    """The store at `url` as it is, for a parse worker: through sqlite3 when it can be."""
    path = sqlite_path(url)
    if path is not None and path.is_file():
        return SqliteStoreWriter(path, url)
    from bot.store.database import attach_store

    return attach_store(url)


class SqliteStoreWriter:
    """The write path of an import (raw mail, then parsed rows) through the stdlib sqlite3 module."""

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self.url = url
        # Autocommit mode: every transaction below is begun and committed explicitly.
        self._conn = self._guarded(lambda: sqlite3.connect(path, timeout=10, isolation_level=None))
        self._guarded(lambda: sqlite_pragmas(self._conn))

    @property
    def shared_url(self) -> str | None:
        return self.url

    def ready(self) -> bool:
        """True for a current schema, created here if the file is new; False if the Store must open it."""
        version = self._guarded(self._schema_version)
        if version is not None:
            return version == str(SCHEMA_VERSION)
        return self._guarded(self._create)

    def _schema_version(self) -> str | None:
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        return "" if row is None else str(row[0])

    def _create(self) -> bool:
        """A new store, whole or not at all (SQLite's DDL is transactional); False unless the file is empty."""
        with self._transaction():
            # Another process may have created it meanwhile; anything but nothing is the Store's to finish.
            if self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                return self._schema_version() == str(SCHEMA_VERSION)
            for statement in SCHEMA_SQL:
                self._conn.execute(statement)
            self._conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return True

    def add_raw(self, batch: Sequence[RawMail]) -> list[Stored]:
        """As Store.add_raw: raw bytes keyed by Message-ID, a known id not stored twice, committed."""
        keyed: dict[str, RawMail] = {}
        for mail in batch:
            keyed.setdefault(message_id_of(mail.raw), mail)
        return self._guarded(lambda: self._add(keyed))

    def _add(self, keyed: dict[str, RawMail]) -> list[Stored]:
        with self._transaction():
            known = self._existing_ids(list(keyed))
            fresh = [(mid, mail) for mid, mail in keyed.items() if mid not in known]
            stamp = now()
            insert = ("INSERT INTO messages (message_id, sha256, size, origin, imported_at, state, flags) "
                      "VALUES (:message_id, :sha256, :size, :origin, :imported_at, :state, :flags)")
            added: dict[str, int] = {}
            for mid, mail in fresh:  # a row at a time for its key (SQLite's own cost is the same)
                added[mid] = _inserted(self._conn.execute(insert, _bound(message_row(mid, mail, stamp))))
            self._conn.executemany("INSERT INTO message_raw (message_pk, raw) VALUES (?, ?)",
                                   ((added[mid], mail.raw) for mid, mail in fresh))
        return [
            Stored(known[mid], mid, False, mail.raw) if mid in known else Stored(added[mid], mid, True, mail.raw)
            for mid, mail in keyed.items()
        ]

    def _existing_ids(self, ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start : start + _IDS_PER_QUERY]
            query = f"SELECT message_id, id FROM messages WHERE message_id IN ({', '.join('?' * len(chunk))})"
            found.update(self._conn.execute(query, chunk).fetchall())
        return found

    def raw_of(self, pks: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        for start in range(0, len(pks), _IDS_PER_QUERY):
            chunk = list(pks[start : start + _IDS_PER_QUERY])
            query = f"SELECT message_pk, raw FROM message_raw WHERE message_pk IN ({', '.join('?' * len(chunk))})"
            rows: list[tuple[int, bytes]] = self._guarded(partial(self._fetch, query, chunk))
            yield from rows

    def _fetch(self, query: str, values: list[Any]) -> list[Any]:
        rows: list[Any] = self._conn.execute(query, values).fetchall()
        return rows

    def unparsed(self) -> list[int]:
        query = "SELECT id FROM messages WHERE state = 'new' ORDER BY id"
        return self._guarded(lambda: [row[0] for row in self._conn.execute(query)])

    def save_parsed(self, parsed: Iterable[tuple[int, Mail]]) -> None:
        rows = [_bound(parsed_row(pk, mail)) for pk, mail in parsed]
        if not rows:
            return
        columns = ", ".join(f"{key} = :{key}" for key in rows[0] if key != "pk")
        query = f"UPDATE messages SET {columns} WHERE id = :pk"

        def save() -> None:
            with self._transaction():
                self._conn.executemany(query, rows)

        self._guarded(save)

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database now, without waiting for (or blocking) the parse workers.

        Done while the last batches parse, so the checkpoint at close (and its fsync) is small.
        """
        self._guarded(lambda: self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())

    def close(self) -> None:
        self._conn.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def _guarded(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except sqlite3.Error as exc:
            raise sqlite_file_error(exc, self.path) from None


class _Transaction:
    """BEGIN IMMEDIATE (the write lock up front, as a writer must) ... COMMIT, or ROLLBACK on any error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def _inserted(cursor: sqlite3.Cursor) -> int:
    key = cursor.lastrowid
    assert key is not None
    return key


def _bound(row: dict[str, Any]) -> dict[str, Any]:
    """A row's values as SQLAlchemy's SQLite types bind them: a datetime as its UTC text."""
    return {key: value.astimezone(UTC).strftime(SQLITE_DATETIME) if isinstance(value, datetime) else value
            for key, value in row.items()}
