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

from bot.model import Mail
from bot.store.access import Access
from bot.store.minutes import LATE_SQL, TAKEN_SQL, Taken
from bot.store.rows import mail_from_values
from bot.store.tables import digest_messages, digests

_TIME = sa.DateTime(timezone=True)


def _bounds(sql: str) -> sa.TextClause:
    return sa.text(sql).bindparams(sa.bindparam("start", type_=_TIME), sa.bindparam("end", type_=_TIME))


def _utc(start: datetime, end: datetime, list_name: str) -> dict[str, Any]:
    return {"start": start.astimezone(UTC), "end": end.astimezone(UTC), "list_name": list_name}


class Coverage(Access):
    """`digest_messages`."""

    def record(self, digest_id: int, taken: Sequence[Taken]) -> None:
        """What draft `digest_id` took (once, when it is stored)."""
        if not taken:
            return
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

    def late_mails(self, start: datetime, end: datetime) -> list[Mail]:
        """Mail dated before [start, end) that no digest holds, since the first sent digest (LATE_SQL)."""
        with self.reading() as conn:
            return [mail_from_values(row) for row in conn.execute(_bounds(LATE_SQL), _utc(start, end, self.list_name))]

    def taken_elsewhere(self, start: datetime, end: datetime) -> set[str]:
        """Message-IDs dated in [start, end) that a digest of another period holds."""
        with self.reading() as conn:
            return set(conn.scalars(_bounds(TAKEN_SQL), _utc(start, end, self.list_name)))
