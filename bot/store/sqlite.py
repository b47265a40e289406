"""What every path to an SQLite store shares: its file, its connection setup, its datetime text.

Light on purpose (no SQLAlchemy): the sqlite3 fast paths of `import`, `poll`
and `draft` import it, and so does the SQLAlchemy Store.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bot.store.schema import VERSION_QUERY, version_from

T = TypeVar("T")
# How SQLAlchemy's SQLite DateTime type stores a value (in UTC, as the store does).
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
IDS_PER_QUERY = 500  # below SQLite's limit on bound parameters, and a fair size for any IN (...)


def chunks(values: Sequence[T]) -> Iterator[list[T]]:
    """`values` in slices of IDS_PER_QUERY, for one `IN (...)` query each."""
    for start in range(0, len(values), IDS_PER_QUERY):
        yield list(values[start : start + IDS_PER_QUERY])


def to_sqlite_text(moment: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite DateTime type writes it: UTC, without the offset."""
    return moment.astimezone(UTC).strftime(SQLITE_DATETIME)


def utc(value: datetime | str) -> datetime:
    """The store's one datetime codec, for what it reads back: an aware datetime in UTC.

    Everything is stored in UTC; SQLite gives it back naive (SQLAlchemy) or as
    text (the sqlite3 fast paths), PostgreSQL aware.
    """
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def maybe_utc(value: datetime | str | None) -> datetime | None:
    return None if value is None else utc(value)


def create_private(path: Path) -> None:
    """The store holds private mail: its file is owner-only, made so before SQLite creates it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Never open and close an existing store: closing any descriptor of the file drops every POSIX
    # lock this process holds on it, SQLite's included, and another process then deletes the WAL
    # this process's open connections still use (seen: a poll inside a process with a Store open).
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))


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


def schema_version(conn: sqlite3.Connection) -> int | None:
    """The schema version an SQLite store records; None for a store not (completely) created."""
    try:
        row = conn.execute(VERSION_QUERY).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return version_from(None if row is None else row[0])


def fold_wal(path: Path) -> None:
    """Fold an SQLite store's WAL into its database file and leave WAL mode: one self-contained
    file to copy or cache (the next open of the store turns WAL mode on again)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
