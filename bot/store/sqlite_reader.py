"""Reading a period's parsed mail: the one query a draft needs, without SQLAlchemy on SQLite.

Importing SQLAlchemy costs about a quarter of a second, a sixth of drafting a
busy month. So for a plain `sqlite:///` store whose schema is current,
:func:`open_mail_reader` reads the `messages` table of bot/store/database.py with the
stdlib `sqlite3` module, read-only; anything else (another database, a store
still to be created or migrated) goes through the Store. Both build `Mail`
with :func:`mail_from_values`, from the same columns, so they return the same.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot.errors import StoreError, sqlite_file_error
from bot.model import Mail
from bot.store.syncstate import sqlite_path

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA_VERSION = 2  # of the store (bot/store/database.py creates and migrates it)
MAIL_COLUMNS = ("message_id", "subject", "from_name", "from_addr", "date", "in_reply_to", "refs", "body",
                "attachments", "flags")
# How SQLAlchemy's SQLite DateTime type stores a value (in UTC, as the store does).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
_IDS_PER_QUERY = 500  # below SQLite's limit on bound parameters
T = TypeVar("T")


class MailReader(Protocol):
    """Parsed mail by period and by Message-ID: all a draft reads from the store."""

    def mails_between(self, start: datetime, end: datetime) -> list[Mail]:
        """Parsed mail dated in [start, end), by date."""
        ...

    def mails_by_ids(self, ids: Iterable[str]) -> list[Mail]: ...


def mail_from_values(values: Sequence[Any]) -> Mail:
    """A `Mail` from one row of MAIL_COLUMNS, as either driver returns it."""
    message_id, subject, from_name, from_addr, date, in_reply_to, refs, body, attachments, flags = values
    if isinstance(date, str):  # the sqlite3 driver does not convert
        date = datetime.fromisoformat(date)
    return Mail(
        message_id=message_id, subject=subject or "", from_name=from_name or "", from_addr=from_addr or "",
        date=date if date.tzinfo else date.replace(tzinfo=UTC), in_reply_to=in_reply_to or None,
        references=tuple(refs.split()) if refs else (), body=body or "",
        attachments=tuple(json.loads(attachments or "[]")), flags=frozenset(flags.split()),
    )


def open_mail_reader(url: str) -> SqliteMailReader | None:
    """The light reader for a current SQLite store file; None when the Store must open it."""
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    reader = SqliteMailReader(path)
    if reader.schema_version() != str(SCHEMA_VERSION):
        reader.close()
        return None
    return reader


class SqliteMailReader:
    """The messages table through the stdlib sqlite3 module; it only reads.

    Opened with mode=rw, not ro: it never creates the file, and a read-only
    connection cannot always open a WAL database whose -shm file is gone.
    """

    _SELECT = f"SELECT {', '.join(MAIL_COLUMNS)} FROM messages WHERE state != 'new'"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = self._guarded(lambda: sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True,
                                                           timeout=10))

    def schema_version(self) -> str | None:
        query = "SELECT value FROM meta WHERE key = 'schema_version'"
        try:
            row = self._conn.execute(query).fetchone()
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc):
                return None  # a store not (completely) created
            raise self._trouble(exc) from None
        return None if row is None else str(row[0])

    def mails_between(self, start: datetime, end: datetime) -> list[Mail]:
        bounds = tuple(moment.astimezone(UTC).strftime(_SQLITE_DATETIME) for moment in (start, end))
        query = f"{self._SELECT} AND date >= ? AND date < ? ORDER BY date, id"
        return self._guarded(lambda: [mail_from_values(row) for row in self._conn.execute(query, bounds)])

    def mails_by_ids(self, ids: Iterable[str]) -> list[Mail]:
        wanted = list(dict.fromkeys(ids))
        chunks = [wanted[start : start + _IDS_PER_QUERY] for start in range(0, len(wanted), _IDS_PER_QUERY)]
        return [mail for chunk in chunks for mail in self._guarded(partial(self._by_ids, chunk))]

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
