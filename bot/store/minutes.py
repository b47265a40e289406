"""What a draft reads to remember earlier minutes: late mail, mail other digests took, tracked actions.

Plain SQL, written once for both drivers: the stdlib sqlite3 reader
(bot/store/sqlite_reader.py) runs it with text times, the Store
(bot/store/coverage.py, bot/store/actions.py) through SQLAlchemy's `text`
with typed times. No SQLAlchemy here: the draft fast path reads it.

A digest "holds" a message while it is drafted, awaiting, approved or sent;
a rejected or superseded draft holds nothing, so what it took is free again.
Everything is of one list (`:list_name`): its messages (list_messages) and its digests; a message
cross-posted to two lists is in a digest of each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.store.rows import MAIL_COLUMNS
from bot.store.sqlite import from_sqlite_text

HOLDING = ("drafted", "awaiting", "approved", "sent")
_HOLDING_SQL = ", ".join(f"'{state}'" for state in HOLDING)
_COLUMNS = ", ".join(f"m.{name}" for name in MAIL_COLUMNS)
_OF_LIST = "m.id IN (SELECT lm.message_pk FROM list_messages lm WHERE lm.list_name = :list_name)"

# Held by a digest of another period (a redraft of the same period may take its own messages again).
# The digests are an uncorrelated IN (read once), and "+" keeps SQLite off the (digest_id, message_id) key:
# each message is one lookup in ix_digest_messages_message_id. As a join, SQLite walked every digest
# per message (1.7 s for 50,000 messages and 148 digests).
_HELD_ELSEWHERE = (
    "EXISTS (SELECT 1 FROM digest_messages dm WHERE dm.message_id = m.message_id AND +dm.digest_id IN "
    f"(SELECT d.id FROM digests d WHERE d.list_name = :list_name AND d.state IN ({_HOLDING_SQL}) "
    "AND NOT (d.period_start = :start AND d.period_end = :end)))"
)

# Late mail: dated before the period, held by no digest, and arrived (or dated) since the list's
# first sent digest. A week skipped by digest.min_messages, a rejected week and a reply that
# arrived after its week was drafted all end up here; the history before the first digest does not.
LATE_SQL = (
    f"SELECT {_COLUMNS} FROM messages m WHERE m.state != 'new' AND m.date < :start AND {_OF_LIST} "
    # Two scalar subqueries, evaluated once (not an EXISTS over the digests per message).
    "AND (m.imported_at >= (SELECT MIN(f.created_at) FROM digests f WHERE f.state = 'sent' "
    "AND f.list_name = :list_name) "
    "OR m.date >= (SELECT MIN(f.period_start) FROM digests f WHERE f.state = 'sent' AND f.list_name = :list_name)) "
    f"AND NOT {_HELD_ELSEWHERE} ORDER BY m.date, m.id"
)

# Messages dated in the period that a digest of another (overlapping or later) period already holds.
TAKEN_SQL = (
    "SELECT m.message_id FROM messages m WHERE m.state != 'new' AND m.date >= :start AND m.date < :end "
    f"AND {_OF_LIST} AND {_HELD_ELSEWHERE}"
)

# The actions a new digest lists: still open, or done and not yet listed as done by a sent digest;
# only those of sent digests (an unsent draft's actions are proposals).
ACTION_COLUMNS = ("id", "who", "what", "digest_id", "message_id", "state", "created_at", "closed_at", "closed_by",
                  "closed_via", "note", "reported_in")
_ACTION_SELECT = ", ".join(f"a.{name}" for name in ACTION_COLUMNS) + ", d.period_start, d.state"
ACTIONS_SQL = (f"SELECT {_ACTION_SELECT} FROM actions a JOIN digests d ON d.id = a.digest_id "
               "AND d.list_name = :list_name")
CARRIED_SQL = (
    f"{ACTIONS_SQL} WHERE d.state = 'sent' AND (a.state = 'open' OR NOT EXISTS "
    "(SELECT 1 FROM digests r WHERE r.id = a.reported_in AND r.state = 'sent')) ORDER BY a.id"
)


@dataclass(frozen=True, slots=True)
class Taken:
    """One message a digest took: in an item, or left out (and why)."""

    message_id: str
    late: bool = False
    left_out: str = ""  # "" when it is in an item; else e.g. "unreadable", "duplicate"


@dataclass(frozen=True, slots=True)
class TrackedAction:
    """One row of `actions`, with the digest it first appeared in."""

    id: int
    who: str
    what: str
    digest_id: int
    message_id: str
    state: str  # open | done
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    closed_via: str | None
    note: str
    reported_in: int | None
    since: datetime  # the period start of the digest it first appeared in
    digest_state: str  # that digest's state: only a sent digest's actions are tracked for the list


def _time(value: Any) -> datetime:
    moment: datetime = from_sqlite_text(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def action_from_values(values: Sequence[Any]) -> TrackedAction:
    (id_, who, what, digest_id, message_id, state, created_at, closed_at, closed_by, closed_via, note, reported_in,
     since, digest_state) = values
    return TrackedAction(int(id_), who, what, int(digest_id), message_id, state, _time(created_at),
                         _time(closed_at) if closed_at is not None else None, closed_by, closed_via, note or "",
                         reported_in, _time(since), digest_state)
