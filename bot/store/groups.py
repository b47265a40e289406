"""The store's method groups, as one object: the `Store` itself, or one transaction of it.

    store.drafts.get(7)                       one connection, committed per call
    with store.transaction() as tx:           one transaction: every call in the
        tx.tokens.use(...)                    block commits together, or none does
        tx.drafts.change_state(...)           (StoreConflict for a key stored twice)

A transaction (and each write of a group alone) holds SQLite's write lock from
its start, so what it read stays true until it commits (bot/store/access.py:
begin_write); on PostgreSQL, methods that check before they write lock the row
they check (bot/store/deliveries.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from bot.store.access import StoreConflict, begin_write
from bot.store.actions import Actions
from bot.store.coverage import Coverage
from bot.store.deliveries import Deliveries
from bot.store.drafts import Drafts
from bot.store.ledger import ScheduleLedger
from bot.store.schema import DEFAULT_LIST
from bot.store.subscribers import Subscribers
from bot.store.tokens import Tokens


class Groups:
    """drafts, deliveries, subscribers, tokens, the schedule ledger, coverage and actions, over one engine
    (or connection)."""

    def __init__(self, engine: sa.Engine, conn: sa.Connection | None = None, list_name: str = DEFAULT_LIST) -> None:
        self.engine = engine
        self.list_name = list_name  # the list whose drafts, subscribers, schedule and actions these are
        self.drafts = Drafts(engine, conn, list_name)
        self.deliveries = Deliveries(engine, conn, list_name)
        self.subscribers = Subscribers(engine, conn, list_name)
        self.tokens = Tokens(engine, conn, list_name)
        self.ledger = ScheduleLedger(engine, conn, list_name)
        self.coverage = Coverage(engine, conn, list_name)
        self.actions = Actions(engine, conn, list_name)


class Transaction(Groups):
    """The groups bound to one transaction (see `begin`)."""


@contextmanager
def begin(engine: sa.Engine, list_name: str = DEFAULT_LIST) -> Iterator[Transaction]:
    """A new transaction, committed when the block ends (rolled back on an error)."""
    try:
        with begin_write(engine) as conn:  # check-then-write inside is atomic: SQLite's write lock is taken here
            yield Transaction(engine, conn, list_name)
    except sa.exc.IntegrityError as exc:  # raised at commit by a deferred constraint
        raise StoreConflict(f"already stored: {str(exc.orig).splitlines()[0] if exc.orig else exc}") from exc
