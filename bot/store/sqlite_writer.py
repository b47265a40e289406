"""Storing raw mail and parsed rows without SQLAlchemy, for an import into a plain `sqlite:///` store.

Importing SQLAlchemy costs about a quarter of a second, more than parsing a
thousand messages; `digestbot import` and its parse workers pay it for
nothing when the store is an SQLite file. :func:`bot.store.open_store_writer` opens such
a store with the stdlib `sqlite3` module when its schema is current, and
creates a new one (empty file or none) from the one schema, bot/store/schema.py
(a test compares the result with what the Store creates).
Anything else (another database, a store to migrate or left half-created)
gets None, and the caller opens the Store. The values written come from the
same functions on both paths (`message_row`, `parsed_row`, `sqlite_pragmas`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot.errors import sqlite_file_error
from bot.store.identity import Identity, derived_keys, identify, place
from bot.store.rows import Stored, message_row, now, parsed_row
from bot.store.schema import DEFAULT_LIST, SCHEMA_SQL, SCHEMA_VERSION
from bot.store.sqlite import chunks, schema_version, sqlite_pragmas, to_sqlite_text

if TYPE_CHECKING:
    from pathlib import Path

    from bot.model import Mail, RawMail

T = TypeVar("T")


class RawStore(Protocol):
    """What ingest needs of a store: the Store (bot/store/database.py), or the SqliteStoreWriter here."""

    @property
    def shared_url(self) -> str | None: ...

    def add_raw(self, batch: Sequence[RawMail], lists: Sequence[str] | None = None) -> list[Stored]: ...

    def raw_of(self, pks: Sequence[int]) -> Iterator[tuple[int, bytes]]: ...

    def unparsed(self) -> list[int]: ...

    def save_parsed(self, parsed: Iterable[tuple[int, Mail]]) -> None: ...

    def checkpoint(self) -> None: ...


class SqliteStoreWriter:
    """The write path of an import (raw mail, then parsed rows) through the stdlib sqlite3 module."""

    def __init__(self, path: Path, url: str, list_name: str = DEFAULT_LIST) -> None:
        self.path = path
        self.url = url
        self.list_name = list_name  # the list mail joins unless add_raw is told others
        # Autocommit mode: every transaction below is begun and committed explicitly.
        self._conn = self._guarded(lambda: sqlite3.connect(path, timeout=10, isolation_level=None))
        self._guarded(lambda: sqlite_pragmas(self._conn))

    @property
    def shared_url(self) -> str | None:
        return self.url

    def ready(self) -> bool:
        """True for a current schema, created here if the file is new; False if the Store must open it."""
        version = self._guarded(lambda: schema_version(self._conn))
        if version is not None:
            return version == SCHEMA_VERSION
        return self._guarded(self._create)

    def _create(self) -> bool:
        """A new store, whole or not at all (SQLite's DDL is transactional); False unless the file is empty."""
        with self._transaction():
            # Another process may have created it meanwhile; anything but nothing is the Store's to finish.
            if self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                return schema_version(self._conn) == SCHEMA_VERSION
            for statement in SCHEMA_SQL:
                self._conn.execute(statement)
            self._conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return True

    def add_raw(self, batch: Sequence[RawMail], lists: Sequence[str] | None = None) -> list[Stored]:
        """As Store.add_raw: raw bytes under their keys, a message already stored not stored twice, each
        in `lists` (None: this writer's list), committed."""
        identities = [identify(mail.raw) for mail in batch]
        names = (self.list_name,) if lists is None else tuple(lists)
        return self._guarded(lambda: self._add(batch, identities, names))

    def _add(self, batch: Sequence[RawMail], identities: list[Identity], lists: tuple[str, ...]) -> list[Stored]:
        with self._transaction():
            stored = self._stored_under([identity.key for identity in identities])
            stored.update(self._stored_under(derived_keys(identities, stored)))
            placed = place(identities, stored)
            stamp = now()
            insert = ("INSERT INTO messages (message_id, sha256, size, origin, imported_at, state, flags, "
                      "fingerprint, header_id) VALUES (:message_id, :sha256, :size, :origin, :imported_at, :state, "
                      ":flags, :fingerprint, :header_id)")
            fresh = [spot for spot in placed if spot.pk is None]
            # One executemany, then the new keys' ids in one query per chunk: a statement per row cost
            # more in Python than SQLite's own work (the keys are unique, so the lookup is exact).
            texts = {stamp: to_sqlite_text(stamp)}  # every row's: formatted once
            self._conn.executemany(insert, (_bound(message_row(spot, batch[spot.index], stamp), texts)
                                            for spot in fresh))
            added = self._stored_under([spot.key for spot in fresh])
            pks = [spot.pk if spot.pk is not None else added[spot.key][0] for spot in placed]
            self._conn.executemany("INSERT INTO message_raw (message_pk, raw) VALUES (?, ?)",
                                   ((pk, batch[spot.index].raw)
                                    for pk, spot in zip(pks, placed, strict=True) if spot.pk is None))
            self._conn.executemany("INSERT OR IGNORE INTO list_messages (list_name, message_pk) VALUES (?, ?)",
                                   ((name, pk) for name in lists for pk in dict.fromkeys(pks)))
        return [Stored(pk, spot.key, spot.pk is None, batch[spot.index].raw)
                for pk, spot in zip(pks, placed, strict=True)]

    def _stored_under(self, keys: list[str]) -> dict[str, tuple[int, str | None]]:
        """The rows stored under any of `keys`: key -> (primary key, fingerprint)."""
        found: dict[str, tuple[int, str | None]] = {}
        for chunk in chunks(list(dict.fromkeys(keys))):
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT message_id, id, fingerprint FROM messages WHERE message_id IN ({marks})"
            found.update((key, (pk, print_)) for key, pk, print_ in self._conn.execute(query, chunk))
        return found

    def raw_of(self, pks: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        for chunk in chunks(pks):
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


def _bound(row: dict[str, Any], texts: Mapping[datetime, str] | None = None) -> dict[str, Any]:
    """A row's values as SQLAlchemy's SQLite types bind them: a datetime as its UTC text (from `texts` if there)."""
    return {key: ((texts or {}).get(value) or to_sqlite_text(value)) if isinstance(value, datetime) else value
            for key, value in row.items()}
