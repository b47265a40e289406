"""The delivery ledger: one row per (digest, recipient), the only record of what was sent.

The states and what moves a row between them are bot.delivery.send's; each
method here is one atomic write of such a move.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.store.access import Access
from bot.store.sqlite import utc
from bot.store.tables import deliveries, digests


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of `deliveries`."""

    digest_id: int
    recipient: str
    revision: int
    state: str  # pending | deferred | sending | sent | failed | unknown
    attempts: int
    last_error: str | None
    updated_at: datetime


class Deliveries(Access):
    """`deliveries`."""

    def started(self, digest_id: int) -> bool:
        """Whether the digest has any delivery row (its sending has begun)."""
        query = sa.select(sa.func.count()).select_from(deliveries).where(deliveries.c.digest_id == digest_id)
        with self.reading() as conn:
            return bool(conn.scalar(query))

    def of_digest(self, digest_id: int) -> list[Delivery]:
        """The digest's rows, by recipient."""
        query = sa.select(deliveries).where(deliveries.c.digest_id == digest_id).order_by(deliveries.c.recipient)
        with self.reading() as conn:
            return [Delivery(r.digest_id, r.recipient, r.revision, r.state, r.attempts, r.last_error,
                             utc(r.updated_at)) for r in conn.execute(query)]

    def add_pending(self, digest_id: int, revision: int, recipients: Iterable[str], stamp: datetime) -> bool:
        """One `pending` row per recipient, for revision `revision` of the digest, if the digest is approved
        at that revision when written; False, and nothing written, if it is not (rejected or edited meanwhile)."""
        with self.writing() as conn:
            if not _approved_at(conn, digest_id, revision):
                return False
            for recipient in recipients:
                conn.execute(deliveries.insert().values(digest_id=digest_id, recipient=recipient, revision=revision,
                                                        state="pending", attempts=0, updated_at=stamp))
        return True

    def settle_in_flight(self, stamp: datetime, note: str) -> list[tuple[int, str]]:
        """Every row left `sending` becomes `unknown` (one more attempt, `note` as its error);
        the (digest id, recipient) of each, in one transaction."""
        with self.writing() as conn:
            rows = [(r.digest_id, r.recipient) for r in conn.execute(
                sa.select(deliveries.c.digest_id, deliveries.c.recipient).where(deliveries.c.state == "sending"))]
            if rows:
                conn.execute(deliveries.update().where(deliveries.c.state == "sending").values(
                    state="unknown", attempts=deliveries.c.attempts + 1, updated_at=stamp, last_error=note))
        return rows

    def mark_sending(self, digest_id: int, recipient: str, stamp: datetime) -> bool:
        """pending or deferred -> sending, while the digest is approved at the row's revision; False if the
        row was in neither state or the digest has moved on (a rejection or an edit that won a race)."""
        approved = sa.exists().where(digests.c.id == deliveries.c.digest_id, digests.c.state == "approved",
                                     digests.c.revision == deliveries.c.revision)
        with self.writing() as conn:
            _lock_digest(conn, digest_id)
            result = conn.execute(deliveries.update().where(
                deliveries.c.digest_id == digest_id, deliveries.c.recipient == recipient,
                deliveries.c.state.in_(("pending", "deferred")), approved,
            ).values(state="sending", updated_at=stamp))
        return result.rowcount == 1

    def record_outcome(self, digest_id: int, recipient: str, state: str, attempts: int, stamp: datetime,
                       error: str | None) -> None:
        """What a try came to: the row's new state, its attempts so far, and the error (None once sent)."""
        with self.writing() as conn:
            conn.execute(deliveries.update().where(
                deliveries.c.digest_id == digest_id, deliveries.c.recipient == recipient,
            ).values(state=state, attempts=attempts, updated_at=stamp, last_error=error))


def _lock_digest(conn: sa.Connection, digest_id: int) -> None:
    """Wait for any transaction changing the digest's row, and keep others from changing it until this one
    commits (PostgreSQL's row lock; SQLite's write transactions hold the whole database already)."""
    conn.execute(sa.select(digests.c.id).where(digests.c.id == digest_id).with_for_update())


def _approved_at(conn: sa.Connection, digest_id: int, revision: int) -> bool:
    _lock_digest(conn, digest_id)
    return conn.scalar(sa.select(sa.func.count()).select_from(digests).where(
        digests.c.id == digest_id, digests.c.state == "approved", digests.c.revision == revision)) == 1
