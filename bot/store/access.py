"""How a group of store methods reaches the database: on its own, or inside a caller's transaction.

Each group (drafts, deliveries, subscribers, tokens, the schedule ledger) is a
class over `Access`. `Store` holds one of each that opens a connection per
call; `Store.transaction()` hands out the same groups bound to one connection,
so several calls commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from bot.errors import StoreError
from bot.store.schema import DEFAULT_LIST


class StoreConflict(StoreError):
    """A write collided with one already stored (a key used twice): the transaction was rolled back."""


# An execution option: the transaction writes, so on SQLite it begins IMMEDIATE (bot/store/database.py).
WRITES = "digestbot_writes"


@contextmanager
def begin_write(engine: sa.Engine) -> Iterator[sa.Connection]:
    """`engine.begin()` for a transaction that writes. On SQLite it takes the write lock at its start, so
    that what it reads stays true until it commits: SQLite's default (deferred) transaction takes the lock
    at its first write, and a check made before that can be stale by then. Reads need no such lock."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITES: True})
        with conn.begin():
            yield conn


class Access:
    """The engine, the connection of the transaction these methods run in (None: one of their own),
    and the list whose rows they read and write."""

    def __init__(self, engine: sa.Engine, conn: sa.Connection | None = None, list_name: str = DEFAULT_LIST) -> None:
        self.engine = engine
        self._conn = conn
        self.list_name = list_name

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        if self._conn is not None:
            yield self._conn
            return
        with self.engine.connect() as own:
            yield own

    @contextmanager
    def writing(self) -> Iterator[sa.Connection]:
        """A connection in a transaction: the caller's, or one committed when the block ends."""
        try:
            if self._conn is not None:
                yield self._conn
                return
            with begin_write(self.engine) as own:
                yield own
        except sa.exc.IntegrityError as exc:
            raise StoreConflict(f"already stored: {str(exc.orig).splitlines()[0] if exc.orig else exc}") from exc
