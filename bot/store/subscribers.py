"""The roster's table: who is subscribed, and since when by which way. Rows are never deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr

import sqlalchemy as sa

from bot.store.access import Access
from bot.store.sqlite import utc
from bot.store.tables import subscribers


@dataclass(frozen=True, slots=True)
class Subscriber:
    address: str
    name: str
    active: bool
    changed_at: datetime
    changed_via: str

    @property
    def display(self) -> str:
        return formataddr((self.name, self.address)) if self.name else self.address


class Subscribers(Access):
    """`subscribers`, keyed by the bare lower-case address (the caller normalizes it)."""

    @property
    def _mine(self) -> sa.ColumnElement[bool]:
        """This list's rows."""
        return subscribers.c.list_name == self.list_name

    def get(self, address: str) -> Subscriber | None:
        with self.reading() as conn:
            row = conn.execute(sa.select(subscribers).where(subscribers.c.address == address, self._mine)).first()
        return None if row is None else Subscriber(row.address, row.name, bool(row.active), utc(row.changed_at),
                                                   row.changed_via)

    def all(self, *, include_inactive: bool = False) -> list[Subscriber]:
        """The active subscribers (or every row), by address."""
        query = sa.select(subscribers).where(self._mine).order_by(subscribers.c.address)
        if not include_inactive:
            query = query.where(subscribers.c.active)
        with self.reading() as conn:
            return [Subscriber(r.address, r.name, bool(r.active), utc(r.changed_at), r.changed_via)
                    for r in conn.execute(query)]

    def subscribe(self, address: str, name: str, via: str, stamp: datetime) -> bool:
        """Make `address` active, named `name` ("" keeps a known name); False, and nothing written,
        if it was active already under that name (or `name` is "")."""
        with self.writing() as conn:
            row = conn.execute(sa.select(subscribers).where(subscribers.c.address == address, self._mine)).first()
            if row is not None and row.active and (not name or name == row.name):
                return False
            values = {"name": name or (row.name if row else ""), "active": True, "changed_at": stamp,
                      "changed_via": via}
            if row is None:
                conn.execute(subscribers.insert().values(list_name=self.list_name, address=address, **values))
            else:
                conn.execute(subscribers.update().where(subscribers.c.address == address, self._mine).values(**values))
        return True

    def unsubscribe(self, address: str, via: str, stamp: datetime) -> bool:
        """Make an active subscriber inactive (the row stays, as a record); False if it was not active."""
        with self.writing() as conn:
            result = conn.execute(subscribers.update().where(subscribers.c.address == address, self._mine,
                                                             subscribers.c.active)
                                  .values(active=False, changed_at=stamp, changed_via=via))
        return result.rowcount == 1
