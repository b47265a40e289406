"""Reading a period's parsed mail: the one query a draft needs, without SQLAlchemy on SQLite.

Importing SQLAlchemy costs about a quarter of a second, a sixth of drafting a
busy month. So for a plain `sqlite:///` store whose schema is current,
:func:`bot.store.open_mail_reader` reads the `messages` table of bot/store/database.py with the
stdlib `sqlite3` module, read-only; anything else (another database, a store
still to be created or migrated) goes through the Store. Both build `Mail`
with :func:`mail_from_values`, from the same columns, so they return the same.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeVar

from bot.errors import StoreError, sqlite_file_error
from bot.store.minutes import (
    CARRIED_SQL,
    FIRST_PERIOD_SQL,
    LATE_SQL,
    LIST_SIZE_CAP,
    LIST_SIZE_SQL,
    MAILS_SQL,
    RANGE_SIZE_SQL,
    SKIPPED_KEY,
    TAKEN_SQL,
    TrackedAction,
    action_from_values,
    minutes_began,
    skipped_from,
    walk_list,
)
from bot.store.rows import MAIL_COLUMNS, mail_from_values
from bot.store.schema import DEFAULT_LIST
from bot.store.sqlite import chunks, schema_version, to_sqlite_text

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from bot.model import Mail

T = TypeVar("T")


class MailReader(Protocol):
    """Parsed mail by period and by Message-ID: all a draft reads from the store."""

    def mails_between(self, start: datetime, end: datetime) -> list[Mail]:
        """Parsed mail dated in [start, end), by date."""
        ...

    def mails_by_ids(self, ids: Iterable[str]) -> list[Mail]: ...

    def late_mails(self, start: datetime, end: datetime) -> list[Mail]:
        """Parsed mail dated before `start` that no digest holds, since the minutes began, by date."""
        ...

    def taken_elsewhere(self, start: datetime, end: datetime) -> set[str]:
        """Message-IDs dated in [start, end) that a digest of another period holds."""
        ...

    def carried_actions(self, start: datetime, end: datetime) -> list[TrackedAction]:
        """The actions a new digest of [start, end) lists: open, or done and listed by no other digest."""
        ...


class SqliteMailReader:
    """The messages table through the stdlib sqlite3 module; it only reads.

    Opened with mode=rw, not ro: it never creates the file, and a read-only
    connection cannot always open a WAL database whose -shm file is gone.
    """

    _SELECT = f"SELECT {', '.join(MAIL_COLUMNS)} FROM messages WHERE state != 'new'"

    def __init__(self, path: Path, list_name: str = DEFAULT_LIST) -> None:
        self.path = path
        self.list_name = list_name  # whose mail it reads (list_messages)
        self._conn = self._guarded(lambda: sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True,
                                                           timeout=10))

    def schema_version(self) -> int | None:
        return self._guarded(lambda: schema_version(self._conn))

    def mails_between(self, start: datetime, end: datetime) -> list[Mail]:
        bounds = {"start": to_sqlite_text(start), "end": to_sqlite_text(end), "list_name": self.list_name}
        return self._guarded(lambda: [mail_from_values(row) for row in self._conn.execute(
            MAILS_SQL[self._walk_list(start, end)], bounds)])

    def mails_by_ids(self, ids: Iterable[str]) -> list[Mail]:
        wanted = list(dict.fromkeys(ids))
        return [mail for chunk in chunks(wanted) for mail in self._guarded(partial(self._by_ids, chunk))]

    def late_mails(self, start: datetime, end: datetime) -> list[Mail]:
        def read() -> list[Mail]:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (SKIPPED_KEY,)).fetchone()
            skipped = skipped_from(row[0] if row else None, self.list_name)
            first = self._conn.execute(FIRST_PERIOD_SQL, {"list_name": self.list_name}).fetchone()[0]
            began = minutes_began(first, skipped)
            if began is None:
                return []
            bounds = {"start": to_sqlite_text(start), "end": to_sqlite_text(end), "list_name": self.list_name,
                      "began": to_sqlite_text(began)}
            query = LATE_SQL[self._walk_list(began, start)]
            return [mail_from_values(values) for values in self._conn.execute(query, bounds)]

        return self._guarded(read)

    def taken_elsewhere(self, start: datetime, end: datetime) -> set[str]:
        bounds = {"start": to_sqlite_text(start), "end": to_sqlite_text(end), "list_name": self.list_name}
        return self._guarded(lambda: {row[0] for row in self._conn.execute(
            TAKEN_SQL[self._walk_list(start, end)], bounds)})

    def carried_actions(self, start: datetime, end: datetime) -> list[TrackedAction]:
        bounds = {"start": to_sqlite_text(start), "end": to_sqlite_text(end), "list_name": self.list_name}
        return self._guarded(lambda: [action_from_values(row) for row in self._conn.execute(CARRIED_SQL, bounds)])

    def _walk_list(self, low: datetime, high: datetime) -> bool:
        """Whether the list's mail dated in [low, high) is cheaper to read by the list's rows (walk_list)."""
        list_size = self._conn.execute(LIST_SIZE_SQL, {"list_name": self.list_name, "cap": LIST_SIZE_CAP}).fetchone()
        bounds = {"low": to_sqlite_text(low), "high": to_sqlite_text(high)}
        return walk_list(list_size[0], lambda cap: self._conn.execute(
            RANGE_SIZE_SQL, {**bounds, "cap": cap}).fetchone()[0])

    def _by_ids(self, chunk: list[str]) -> list[Mail]:
        query = f"{self._SELECT} AND message_id IN ({', '.join('?' * len(chunk))})"
        return [mail_from_values(row) for row in self._conn.execute(query, chunk)]

    def close(self) -> None:
        self._conn.close()

    def _guarded(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except sqlite3.Error as exc:
            raise self._trouble(exc) from None

    def _trouble(self, exc: sqlite3.Error) -> StoreError:
        return sqlite_file_error(exc, self.path)
