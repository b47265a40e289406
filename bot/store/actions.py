"""The minutes' tracked actions (`actions`): each open until its owner or the chair closes it.

An action is stored with the draft it first appears in; it is tracked for the
list once that digest is sent (a rejected draft's actions are never listed).
A redraft of the same message's action keeps its id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bot.store.access import Access
from bot.store.minutes import ACTIONS_SQL, CARRIED_SQL, REPORTED_ELSEWHERE, TrackedAction, action_from_values
from bot.store.tables import actions, digests


class Actions(Access):
    """`actions` of this list's digests."""

    @property
    def _bound(self) -> dict[str, Any]:
        return {"list_name": self.list_name}

    def all(self, *, sent_only: bool = True) -> list[TrackedAction]:
        """Every action (of sent digests only, unless `sent_only` is False), by id."""
        where = " WHERE d.state = 'sent'" if sent_only else ""
        with self.reading() as conn:
            return [action_from_values(row) for row in conn.execute(sa.text(f"{ACTIONS_SQL}{where} ORDER BY a.id"),
                                                                            self._bound)]

    def get(self, action_id: int) -> TrackedAction | None:
        with self.reading() as conn:
            row = conn.execute(sa.text(f"{ACTIONS_SQL} WHERE a.id = :id"), {"id": action_id, **self._bound}).first()
        return None if row is None else action_from_values(row)

    def carried(self, start: datetime, end: datetime) -> list[TrackedAction]:
        """What a new digest of [start, end) lists: open actions of sent digests, and those done that no
        digest of another period lists as done (one that holds it: drafted, awaiting, approved or sent)."""
        with self.reading() as conn:
            return [action_from_values(row) for row in conn.execute(_bounds(CARRIED_SQL), _period(start, end, self))]

    def propose(self, digest_id: int, who: str, what: str, message_id: str, stamp: datetime) -> int:
        """The id of the action `what` of `message_id`, as draft `digest_id` lists it: the same action
        of an unsent draft (a redraft) moves to this one; a new one is added."""
        with self.writing() as conn:
            row = conn.execute(
                sa.select(actions.c.id, digests.c.state).join(digests, digests.c.id == actions.c.digest_id)
                .where(actions.c.message_id == message_id, actions.c.what == what,
                       digests.c.list_name == self.list_name).order_by(actions.c.id)).first()
            if row is not None:
                if row.state != "sent":
                    conn.execute(actions.update().where(actions.c.id == row.id)
                                 .values(digest_id=digest_id, who=who))
                return int(row.id)
            result = conn.execute(actions.insert().values(
                who=who, what=what, digest_id=digest_id, message_id=message_id, state="open", created_at=stamp,
                note=""))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def close(self, action_id: int, *, by: str, via: str, at: datetime, note: str = "", ref: str = "") -> bool:
        """Open -> done; False (nothing written) if it is not open."""
        with self.writing() as conn:
            result = conn.execute(actions.update().where(actions.c.id == action_id, actions.c.state == "open")
                                  .values(state="done", closed_at=at, closed_by=by, closed_via=via, note=note,
                                          closed_ref=ref or None))
        return result.rowcount == 1

    def closed_by_ref(self, ref: str) -> list[int]:
        """The actions a message (a reply, a DONE: line) closed: a message polled twice closes once."""
        with self.reading() as conn:
            return list(conn.scalars(sa.select(actions.c.id).where(actions.c.closed_ref == ref)))

    def edit(self, action_id: int, digest_id: int, *, who: str, what: str) -> bool:
        """The chair's edit of an action draft `digest_id` lists; False if it is not that draft's."""
        values: dict[str, Any] = {"who": who, "what": what}
        with self.writing() as conn:
            result = conn.execute(actions.update().where(actions.c.id == action_id, actions.c.digest_id == digest_id)
                                  .values(**values))
        return result.rowcount == 1

    def mark_reported(self, action_ids: Iterable[int], digest_id: int, start: datetime, end: datetime) -> list[int]:
        """Draft `digest_id` of [start, end) lists these as done since the last digest: the ids it now reports.

        Never one that a digest of another period still holds as reported (one action, done once in one
        sent digest); a rejected or superseded digest's report, or the same period's, passes on.
        """
        ids = list(action_ids)
        if not ids:
            return []
        free = _bounds(f"SELECT a.id FROM actions a WHERE a.id IN :ids AND NOT {REPORTED_ELSEWHERE}").bindparams(
            sa.bindparam("ids", expanding=True))
        with self.writing() as conn:
            mine = sorted(conn.scalars(free, {**_period(start, end, self), "ids": ids}))
            if mine:
                conn.execute(actions.update().where(actions.c.id.in_(mine)).values(reported_in=digest_id))
        return mine


_TIME = sa.DateTime(timezone=True)


def _bounds(sql: str) -> sa.TextClause:
    return sa.text(sql).bindparams(sa.bindparam("start", type_=_TIME), sa.bindparam("end", type_=_TIME))


def _period(start: datetime, end: datetime, group: Access) -> dict[str, Any]:
    return {"start": start.astimezone(UTC), "end": end.astimezone(UTC), "list_name": group.list_name}
