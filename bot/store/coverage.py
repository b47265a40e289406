"""Which messages each digest took (`digest_messages`), and the mail a new draft must still cover.

A message is in exactly one sent digest: a draft takes the mail dated in its
period and the late mail (bot/store/minutes.py), minus what another digest
holds, and records what it took here when it is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bot.errors import StoreError
from bot.model import Mail
from bot.store.access import Access
from bot.store.minutes import (
    FIRST_PERIOD_SQL,
    HELD_SQL,
    LATE_SQL,
    LIST_SIZE_CAP,
    LIST_SIZE_SQL,
    MAILS_SQL,
    RANGE_SIZE_SQL,
    SKIPPED_KEY,
    TAKEN_SQL,
    Taken,
    minutes_began,
    skipped_from,
    walk_list,
    with_skipped,
)
from bot.store.rows import mail_from_values
from bot.store.sqlite import chunks
from bot.store.tables import digest_messages, digests, meta

_TIME = sa.DateTime(timezone=True)


def _bounds(sql: str, *times: str) -> sa.TextClause:
    return sa.text(sql).bindparams(*(sa.bindparam(name, type_=_TIME) for name in ("start", "end", *times)))


def _utc(start: datetime, end: datetime, list_name: str) -> dict[str, Any]:
    return {"start": start.astimezone(UTC), "end": end.astimezone(UTC), "list_name": list_name}


class TakenElsewhere(StoreError):
    """Some of a draft's messages are already held by a digest of another period."""

    def __init__(self, held: dict[str, int]) -> None:
        self.held = held
        where = ", ".join(f"{mid} (#{digest_id})" for mid, digest_id in sorted(held.items())[:5])
        more = f" and {len(held) - 5} more" if len(held) > 5 else ""
        super().__init__(f"{len(held)} of its messages are already in another period's digest: {where}{more}")


class Coverage(Access):
    """`digest_messages`."""

    def record(self, digest_id: int, taken: Sequence[Taken], start: datetime, end: datetime) -> None:
        """What draft `digest_id` of [start, end) took (once, when it is stored).

        Checked again here, in the storing transaction: a draft built while another
        took some of the same mail must not store them too (TakenElsewhere; nothing written).
        """
        if not taken:
            return
        held = self.held_elsewhere([t.message_id for t in taken], start, end)
        if held:
            raise TakenElsewhere(held)
        rows = [{"digest_id": digest_id, "message_id": t.message_id, "late": t.late, "left_out": t.left_out}
                for t in taken]
        with self.writing() as conn:
            conn.execute(digest_messages.insert(), rows)

    def of_digest(self, digest_id: int) -> list[Taken]:
        query = (sa.select(digest_messages.c.message_id, digest_messages.c.late, digest_messages.c.left_out)
                 .where(digest_messages.c.digest_id == digest_id).order_by(digest_messages.c.message_id))
        with self.reading() as conn:
            return [Taken(row[0], bool(row[1]), row[2]) for row in conn.execute(query)]

    def sent(self) -> list[tuple[int, str]]:
        """(digest id, Message-ID) of every message in a sent digest, by digest."""
        query = (sa.select(digest_messages.c.digest_id, digest_messages.c.message_id)
                 .join(digests, digests.c.id == digest_messages.c.digest_id)
                 .where(digests.c.state == "sent", digests.c.list_name == self.list_name)
                 .order_by(digest_messages.c.digest_id, digest_messages.c.message_id))
        with self.reading() as conn:
            return [(row[0], row[1]) for row in conn.execute(query)]

    def held_elsewhere(self, message_ids: Sequence[str], start: datetime, end: datetime) -> dict[str, int]:
        """Message-ID -> the digest of another period than [start, end) that holds it, of `message_ids`.

        In a transaction on PostgreSQL it first locks digest_messages against other writers until the
        transaction ends, so two drafts stored at once see each other's (SQLite: the write lock does).
        """
        found: dict[str, int] = {}
        with self.writing() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE digest_messages IN SHARE ROW EXCLUSIVE MODE")
            for chunk in chunks(list(dict.fromkeys(message_ids))):
                query = _bounds(HELD_SQL).bindparams(sa.bindparam("ids", expanding=True))
                found.update((row[0], int(row[1])) for row in conn.execute(
                    query, {**_utc(start, end, self.list_name), "ids": chunk}))
        return found

    def skip(self, start: datetime) -> None:
        """The scheduler skipped the period starting at `start` (digest.min_messages): its mail is late mail
        of the next digest, even before any digest was drafted (see LATE_SQL)."""
        with self.writing() as conn:
            value = conn.scalar(sa.select(meta.c.value).where(meta.c.key == SKIPPED_KEY).with_for_update())
            updated = with_skipped(value, self.list_name, start)
            if value is None:
                conn.execute(meta.insert().values(key=SKIPPED_KEY, value=updated))
            elif updated != value:
                conn.execute(meta.update().where(meta.c.key == SKIPPED_KEY).values(value=updated))

    def skipped_from(self) -> datetime | None:
        """The earliest period start the scheduler skipped for this list; None if none."""
        with self.reading() as conn:
            return skipped_from(conn.scalar(sa.select(meta.c.value).where(meta.c.key == SKIPPED_KEY)),
                                self.list_name)

    def mails_between(self, start: datetime, end: datetime) -> list[Mail]:
        """The list's parsed and flagged mail dated in [start, end), by date (MAILS_SQL)."""
        with self.reading() as conn:
            query = MAILS_SQL[self._walk_list(conn, start, end)]
            return [mail_from_values(row) for row in conn.execute(_bounds(query), _utc(start, end, self.list_name))]

    def late_mails(self, start: datetime, end: datetime) -> list[Mail]:
        """Mail dated before [start, end) that no digest holds, since the minutes began (LATE_SQL)."""
        skipped = self.skipped_from()
        with self.reading() as conn:
            began = minutes_began(conn.execute(sa.text(FIRST_PERIOD_SQL), {"list_name": self.list_name}).scalar(),
                                  skipped)
            if began is None:
                return []
            bound = {**_utc(start, end, self.list_name), "began": began}
            query = LATE_SQL[self._walk_list(conn, began, start)]
            return [mail_from_values(row) for row in conn.execute(_bounds(query, "began"), bound)]

    def taken_elsewhere(self, start: datetime, end: datetime) -> set[str]:
        """Message-IDs dated in [start, end) that a digest of another period holds."""
        with self.reading() as conn:
            query = TAKEN_SQL[self._walk_list(conn, start, end)]
            return set(conn.scalars(_bounds(query), _utc(start, end, self.list_name)))

    def _walk_list(self, conn: sa.Connection, low: datetime, high: datetime) -> bool:
        """Whether the list's mail dated in [low, high) is cheaper to read by the list's rows (walk_list)."""
        list_size = conn.scalar(sa.text(LIST_SIZE_SQL), {"list_name": self.list_name, "cap": LIST_SIZE_CAP})
        range_sql = sa.text(RANGE_SIZE_SQL).bindparams(sa.bindparam("low", type_=_TIME),
                                                       sa.bindparam("high", type_=_TIME))
        bounds = {"low": low.astimezone(UTC), "high": high.astimezone(UTC)}
        return walk_list(int(list_size or 0), lambda cap: int(conn.scalar(range_sql, {**bounds, "cap": cap}) or 0))
