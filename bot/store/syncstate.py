"""Per-folder IMAP sync state: UIDVALIDITY, highest UID stored, last poll.

A poll that finds nothing new must start and finish fast, and importing
SQLAlchemy alone costs about 200 ms here. So for a `sqlite:///` store this
module reads and writes the `sync_state` table of bot/store/database.py with the
stdlib `sqlite3` module; any other database goes through the Store.
Both keep the same table, columns and value formats, so either can read
what the other wrote.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import sqlite_trouble
from bot.store.rows import now
from bot.store.sqlite import maybe_utc, to_sqlite_text

if TYPE_CHECKING:
    from pathlib import Path

    from bot.store.database import Store


@dataclass(frozen=True, slots=True)
class FolderState:
    folder: str
    uidvalidity: int | None = None
    last_uid: int = 0
    last_poll_at: datetime | None = None
    last_error: str | None = None


class SyncState(Protocol):
    """What the IMAP poller needs to remember between runs."""

    def ready(self) -> bool:
        """False while the store has no schema yet (the very first poll)."""
        ...

    def get(self, folder: str) -> FolderState | None: ...

    def unparsed(self) -> bool:
        """Messages are stored but not parsed yet (a run was killed while parsing)."""
        ...

    def all(self) -> list[FolderState]: ...

    def progress(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        """Everything up to `last_uid` is stored (called after every batch)."""
        ...

    def polled(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        """A complete pass over `folder` ended well: stamps the poll, clears the error."""
        ...

    def failed(self, folder: str, error: str) -> None: ...

    def close(self) -> None: ...


class SqliteSyncState:
    """The sync_state table through the stdlib sqlite3 module."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection | None:
        # Never create the file here: the Store creates it, owner-only, with its schema.
        if self._conn is None and self.path.exists():
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='sync_state'").fetchone()
            if found is None:
                conn.close()
                return None
            self._conn = conn
        return self._conn

    def ready(self) -> bool:
        return self._connection() is not None

    def unparsed(self) -> bool:
        conn = self._connection()  # ix_messages_state answers this without a scan
        try:
            return conn is not None and conn.execute("SELECT 1 FROM messages WHERE state = 'new' LIMIT 1") \
                .fetchone() is not None
        except sqlite3.OperationalError:  # no messages table: a first run was killed creating the store
            return False

    def get(self, folder: str) -> FolderState | None:
        conn = self._connection()
        if conn is None:
            return None
        row = conn.execute(
            "SELECT folder, uidvalidity, last_uid, last_poll_at, last_error FROM sync_state WHERE folder = ?",
            (folder,),
        ).fetchone()
        return _row_state(row) if row else None

    def all(self) -> list[FolderState]:
        conn = self._connection()
        if conn is None:
            return []
        rows = conn.execute(
            "SELECT folder, uidvalidity, last_uid, last_poll_at, last_error FROM sync_state ORDER BY folder"
        )
        return [_row_state(row) for row in rows]

    def progress(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        self._upsert(folder, {"uidvalidity": uidvalidity, "last_uid": last_uid})

    def polled(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        stamp = to_sqlite_text(now())
        self._upsert(folder, {"uidvalidity": uidvalidity, "last_uid": last_uid, "last_poll_at": stamp,
                              "last_error": None})

    def failed(self, folder: str, error: str) -> None:
        self._upsert(folder, {"last_error": error})

    def _upsert(self, folder: str, values: dict[str, Any]) -> None:
        conn = self._connection()
        if conn is None:  # no store yet: nothing was stored, so there is nothing to remember
            return
        row = {"last_uid": 0, **values}  # last_uid is NOT NULL: a first error starts a folder at 0
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        updates = ", ".join(f"{name} = excluded.{name}" for name in values)
        sql = f"INSERT INTO sync_state (folder, {columns}) VALUES (?, {marks}) ON CONFLICT(folder) DO UPDATE SET "
        try:
            conn.execute(sql + updates, (folder, *row.values()))
        except sqlite3.Error as exc:  # a full disk, say: one clear line, as the Store gives
            trouble = sqlite_trouble(exc, f"sqlite:///{self.path}")
            if trouble is None:
                raise
            raise trouble from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _row_state(row: Any) -> FolderState:
    folder, uidvalidity, last_uid, polled_at, error = row
    stamp = maybe_utc(polled_at) if polled_at else None
    return FolderState(folder, uidvalidity, int(last_uid or 0), stamp, error)


class StoreSyncState:
    """The same table through the Store's SQLAlchemy engine (non-SQLite databases)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def ready(self) -> bool:
        return True

    def unparsed(self) -> bool:
        return bool(self.store.unparsed())

    def get(self, folder: str) -> FolderState | None:
        found = [s for s in self._select(folder) if s.folder == folder]
        return found[0] if found else None

    def all(self) -> list[FolderState]:
        return self._select(None)

    def _select(self, folder: str | None) -> list[FolderState]:
        import sqlalchemy as sa

        from bot.store.tables import sync_state

        query = sa.select(sync_state).order_by(sync_state.c.folder)
        if folder is not None:
            query = query.where(sync_state.c.folder == folder)
        with self.store.engine.connect() as conn:
            rows = list(conn.execute(query))
        return [
            FolderState(row.folder, row.uidvalidity, int(row.last_uid or 0),
                        maybe_utc(row.last_poll_at),
                        row.last_error)
            for row in rows
        ]

    def progress(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        self._upsert(folder, {"uidvalidity": uidvalidity, "last_uid": last_uid})

    def polled(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        self._upsert(folder, {"uidvalidity": uidvalidity, "last_uid": last_uid, "last_poll_at": now(),
                              "last_error": None})

    def failed(self, folder: str, error: str) -> None:
        self._upsert(folder, {"last_error": error})

    def _upsert(self, folder: str, values: dict[str, Any]) -> None:
        import sqlalchemy as sa

        from bot.store.tables import sync_state

        with self.store.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # instances sharing the store may poll one folder at once
                from sqlalchemy.dialects.postgresql import insert

                row = insert(sync_state).values(folder=folder, **{"last_uid": 0, **values})
                conn.execute(row.on_conflict_do_update(index_elements=[sync_state.c.folder], set_=values))
                return
            # SQLite: update, and insert when there was no row (one instance per store: no race).
            done = conn.execute(sa.update(sync_state).where(sync_state.c.folder == folder).values(**values))
            if done.rowcount == 0:
                conn.execute(sa.insert(sync_state).values(folder=folder, **{"last_uid": 0, **values}))

    def close(self) -> None:
        return None
