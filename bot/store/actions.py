"""The minutes' tracked actions (`actions`): each open until its owner or the chair closes it.

An action is stored with the draft it first appears in; it is tracked for the
list once that digest is sent (a rejected draft's actions are never listed).
A redraft of the same message's action keeps its id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.store.access import Access
from bot.store.minutes import ACTIONS_SQL, CARRIED_SQL, TrackedAction, action_from_values
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

    def carried(self) -> list[TrackedAction]:
        """What a new digest lists: open actions of sent digests, and those done since the last sent one."""
        with self.reading() as conn:
            return [action_from_values(row) for row in conn.execute(sa.text(CARRIED_SQL), self._bound)]

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

    def mark_reported(self, action_ids: Iterable[int], digest_id: int) -> None:
        """Draft `digest_id` lists these as done since the last digest."""
        ids = list(action_ids)
        if ids:
            with self.writing() as conn:
                conn.execute(actions.update().where(actions.c.id.in_(ids)).values(reported_in=digest_id))
