"""Digests under review: the drafts, their revisions, and the history of every state change.

The rules (which state may follow which) are bot.review.lifecycle's; here is
how a change is stored: a compare-and-set on (state, revision) and its
`transitions` row, written in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.store.access import Access
from bot.store.sqlite import maybe_utc, utc
from bot.store.tables import digest_revisions, digests, transitions


@dataclass(frozen=True, slots=True)
class Draft:
    """One row of `digests`."""

    id: int
    period_start: datetime
    period_end: datetime
    state: str
    revision: int
    mail_message_id: str
    created_at: datetime
    updated_at: datetime
    reminded_at: datetime | None
    superseded_by: int | None


@dataclass(frozen=True, slots=True)
class StoredRevision:
    """One row of `digest_revisions`, its JSON decoded."""

    digest_id: int
    revision: int
    subject: str
    markdown: str
    data: dict[str, Any]
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class Transition:
    digest_id: int
    from_state: str | None
    to_state: str
    actor: str
    via: str
    at: datetime
    note: str


def _draft(row: Any) -> Draft:
    return Draft(
        id=row.id, period_start=utc(row.period_start), period_end=utc(row.period_end), state=row.state,
        revision=row.revision, mail_message_id=row.mail_message_id, created_at=utc(row.created_at),
        updated_at=utc(row.updated_at), reminded_at=maybe_utc(row.reminded_at),
        superseded_by=row.superseded_by,
    )


class Drafts(Access):
    """`digests`, `digest_revisions` and `transitions`."""

    @property
    def _mine(self) -> sa.ColumnElement[bool]:
        """This list's rows."""
        return digests.c.list_name == self.list_name

    # -- reading ------------------------------------------------------------------

    def get(self, digest_id: int) -> Draft | None:
        with self.reading() as conn:
            row = conn.execute(sa.select(digests).where(digests.c.id == digest_id, self._mine)).first()
        return None if row is None else _draft(row)

    def all(self, states: Sequence[str] = ()) -> list[Draft]:
        """Every draft (or those in `states`), by period, then id."""
        query = sa.select(digests).where(self._mine).order_by(digests.c.period_start, digests.c.id)
        if states:
            query = query.where(digests.c.state.in_(states))
        with self.reading() as conn:
            return [_draft(row) for row in conn.execute(query)]

    def of_period(self, start: datetime, end: datetime) -> list[Draft]:
        """The drafts of exactly this period, in any state."""
        query = sa.select(digests).where(digests.c.period_start == start, digests.c.period_end == end, self._mine)
        with self.reading() as conn:
            return [_draft(row) for row in conn.execute(query)]

    def count_by_state(self, states: Sequence[str]) -> dict[str, int]:
        """How many drafts are in each of `states` (0 for none)."""
        query = (sa.select(digests.c.state, sa.func.count()).where(digests.c.state.in_(states), self._mine)
                 .group_by(digests.c.state))
        with self.reading() as conn:
            found = {state: n for state, n in conn.execute(query)}
        return {state: 0 for state in states} | found

    def count_by_list(self, states: Sequence[str]) -> dict[str, dict[str, int]]:
        """Every list's count of drafts in each of `states`, in one query: list -> state -> n (lists with none
        in those states are left out)."""
        query = (sa.select(digests.c.list_name, digests.c.state, sa.func.count()).where(digests.c.state.in_(states))
                 .group_by(digests.c.list_name, digests.c.state))
        found: dict[str, dict[str, int]] = {}
        with self.reading() as conn:
            for name, state, n in conn.execute(query):
                found.setdefault(name, dict.fromkeys(states, 0))[state] = n
        return found

    def revision(self, digest_id: int, number: int) -> StoredRevision | None:
        query = sa.select(digest_revisions).where(
            digest_revisions.c.digest_id == digest_id, digest_revisions.c.revision == number)
        with self.reading() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return StoredRevision(row.digest_id, row.revision, row.subject, row.markdown, json.loads(row.data),
                              utc(row.created_at), row.created_by)

    def history(self, digest_id: int | None = None) -> list[Transition]:
        """Every recorded change (of one draft, or of all), oldest first."""
        query = (sa.select(transitions).join(digests, digests.c.id == transitions.c.digest_id)
                 .where(self._mine).order_by(transitions.c.id))
        if digest_id is not None:
            query = query.where(transitions.c.digest_id == digest_id)
        with self.reading() as conn:
            return [Transition(r.digest_id, r.from_state, r.to_state, r.actor, r.via, utc(r.at), r.note)
                    for r in conn.execute(query)]

    # -- writing ------------------------------------------------------------------

    def add(self, start: datetime, end: datetime, stamp: datetime) -> int:
        """A new draft, drafted at revision 1, its Message-ID still "pending" (see set_mail_message_id); its id."""
        with self.writing() as conn:
            result = conn.execute(digests.insert().values(
                period_start=start, period_end=end, state="drafted", revision=1, mail_message_id="pending",
                created_at=stamp, updated_at=stamp, list_name=self.list_name))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def set_mail_message_id(self, digest_id: int, message_id: str) -> None:
        with self.writing() as conn:
            conn.execute(digests.update().where(digests.c.id == digest_id).values(mail_message_id=message_id))

    def add_revision(self, digest_id: int, number: int, subject: str, markdown: str, data: dict[str, Any],
                     created_by: str, stamp: datetime) -> None:
        """Revision `number` of a draft; `data` is stored as JSON. A revision is never overwritten."""
        with self.writing() as conn:
            conn.execute(digest_revisions.insert().values(
                digest_id=digest_id, revision=number, subject=subject, markdown=markdown,
                data=json.dumps(data, ensure_ascii=False), created_at=stamp, created_by=created_by))

    def change_state(self, draft: Draft, to_state: str, actor: str, via: str, stamp: datetime, note: str, *,
                     revision: int | None = None, superseded_by: int | None = None) -> bool:
        """Compare-and-set: `draft` moves to `to_state` only if its row still has `draft`'s state and
        revision, and the change is recorded in `transitions` in the same transaction. False (and
        nothing written) if someone else changed the draft since it was read."""
        values: dict[str, Any] = {"state": to_state, "updated_at": stamp}
        if revision is not None:
            values["revision"] = revision
        if superseded_by is not None:
            values["superseded_by"] = superseded_by
        with self.writing() as conn:
            result = conn.execute(
                digests.update()
                .where(digests.c.id == draft.id, digests.c.state == draft.state, digests.c.revision == draft.revision)
                .values(**values))
            if result.rowcount != 1:
                return False
            _record(conn, draft.id, draft.state, to_state, actor, via, stamp, note)
        return True

    def record(self, digest_id: int, from_state: str | None, to_state: str, actor: str, via: str,
               stamp: datetime, note: str) -> None:
        """One row of history without a change of state (a review mail sent again, a reminder)."""
        with self.writing() as conn:
            _record(conn, digest_id, from_state, to_state, actor, via, stamp, note)

    def claim_reminder(self, digest_id: int, at: datetime, open_states: Sequence[str]) -> bool:
        """Mark the draft reminded at `at` if it is in `open_states` and not reminded yet; whether it was."""
        with self.writing() as conn:
            result = conn.execute(digests.update().where(
                digests.c.id == digest_id, digests.c.reminded_at.is_(None), digests.c.state.in_(open_states),
            ).values(reminded_at=at))
        return result.rowcount == 1

    def unclaim_reminder(self, digest_id: int) -> None:
        """Give a reminder claim back (its mail could not be sent)."""
        with self.writing() as conn:
            conn.execute(digests.update().where(digests.c.id == digest_id).values(reminded_at=None))


def _record(conn: sa.Connection, digest_id: int, from_state: str | None, to_state: str, actor: str, via: str,
            stamp: datetime, note: str) -> None:
    conn.execute(transitions.insert().values(digest_id=digest_id, from_state=from_state, to_state=to_state,
                                             actor=actor, via=via, at=stamp, note=note))
