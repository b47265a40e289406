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

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.store.rows import MAIL_COLUMNS
from bot.store.sqlite import maybe_utc, utc

HOLDING = ("drafted", "awaiting", "approved", "sent")
_HOLDING_SQL = ", ".join(f"'{state}'" for state in HOLDING)
_COLUMNS = ", ".join(f"m.{name}" for name in MAIL_COLUMNS)

# A list's mail dated in a range is found from whichever side is smaller, in one of two forms (`in_range`).
# By date: the date index's range, and a key lookup of each message in list_messages; a week of one list
# costs the same from its 100,000-message archive. By list: the list's own rows, and each message by its key;
# with 10,000 lists a week's range holds every list's mail (15.6 ms a list by date, 0.04 by list).
# SQLite's planner cannot tell the two cases apart, even after ANALYZE (no histograms without STAT4),
# so the readers count both sides first (`walk_list`).
_BY_DATE = ("FROM messages m WHERE EXISTS (SELECT 1 FROM list_messages lm WHERE lm.list_name = :list_name "
            "AND lm.message_pk = m.id) AND ")
_BY_LIST = "FROM list_messages lm JOIN messages m ON m.id = lm.message_pk WHERE lm.list_name = :list_name AND "


def in_range(select: str, conditions: str) -> tuple[str, str]:
    """`SELECT ... FROM` a list's messages `WHERE conditions`: (by date, by list), indexed by `walk_list`."""
    return f"{select} {_BY_DATE}{conditions}", f"{select} {_BY_LIST}{conditions}"


# Each side counted only as far as the other could go: never more than twice the cheaper walk.
LIST_SIZE_SQL = "SELECT COUNT(*) FROM (SELECT 1 FROM list_messages WHERE list_name = :list_name LIMIT :cap) s"
RANGE_SIZE_SQL = "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE date >= :low AND date < :high LIMIT :cap) s"
LIST_SIZE_CAP = 20_000  # a list this big is read by date: its week is a sliver of its rows


def walk_list(list_size: int, range_size: Callable[[int], int]) -> bool:
    """Whether to read a list's messages of a range by the list's rows (index 1 of `in_range`'s forms).

    `list_size`: the list's rows, counted up to LIST_SIZE_CAP; `range_size(cap)`: the messages of every
    list dated in the range, counted up to `cap`.
    """
    return list_size < LIST_SIZE_CAP and range_size(list_size + 1) > list_size


# The list's mail of [start, end), parsed or flagged: what a draft summarizes.
MAILS_SQL = in_range(f"SELECT {_COLUMNS}", "m.state != 'new' AND m.date >= :start AND m.date < :end "
                                           "ORDER BY m.date, m.id")

# Held by a digest of another period (a redraft of the same period may take its own messages again).
# The digests are an uncorrelated IN (read once), and "+" keeps SQLite off the (digest_id, message_id) key:
# each message is one lookup in ix_digest_messages_message_id. As a join, SQLite walked every digest
# per message (1.7 s for 50,000 messages and 148 digests).
_HELD_ELSEWHERE = (
    "EXISTS (SELECT 1 FROM digest_messages dm WHERE dm.message_id = m.message_id AND +dm.digest_id IN "
    f"(SELECT d.id FROM digests d WHERE d.list_name = :list_name AND d.state IN ({_HOLDING_SQL}) "
    "AND NOT (d.period_start = :start AND d.period_end = :end)))"
)

# Late mail: dated before the period, held by no digest, and dated on or after the start of the minutes:
# the earliest period a digest of this list has covered (in any state: a rejected week rolls on too) or
# the scheduler skipped for digest.min_messages (:skipped_from, kept in `meta`; NULL if none). A reply that
# arrived after its week was drafted, a skipped or rejected week: all end up here, however late they arrive.
# Mail dated before that start is history (an archive imported at any time), never late.
# :began is that start, found first (`minutes_began`): as a bound of the date index's range it keeps a
# draft from walking every older message of a big archive (and with no start yet there is no query at all).
LATE_SQL = in_range(f"SELECT {_COLUMNS}", "m.state != 'new' AND m.date >= :began AND m.date < :start "
                   f"AND NOT {_HELD_ELSEWHERE} ORDER BY m.date, m.id")
FIRST_PERIOD_SQL = "SELECT MIN(period_start) FROM digests WHERE list_name = :list_name"


def minutes_began(first_period: datetime | str | None, skipped: datetime | None) -> datetime | None:
    """Where a list's minutes begin: its first digest's period or first skipped one; None before either."""
    found = [moment for moment in (maybe_utc(first_period), skipped) if moment is not None]
    return min(found) if found else None

# The one `meta` row that remembers, per list, the earliest period the scheduler skipped: JSON
# {"list name": "ISO time"} (a row per list would not fit meta's 64-character keys for every list name).
SKIPPED_KEY = "skipped_from"


def skipped_from(value: str | None, list_name: str) -> datetime | None:
    """The earliest skipped period start of `list_name`, from the SKIPPED_KEY row's value."""
    stamp = json.loads(value).get(list_name) if value else None
    return utc(stamp) if stamp else None


def with_skipped(value: str | None, list_name: str, start: datetime) -> str:
    """The SKIPPED_KEY row's value once the period starting at `start` is skipped: the earliest is kept."""
    by_list: dict[str, str] = json.loads(value) if value else {}
    known = skipped_from(value, list_name)
    if known is None or start < known:
        by_list[list_name] = start.astimezone(UTC).isoformat()
    return json.dumps(by_list, sort_keys=True)


# Which of some messages (:ids, SQLAlchemy's expanding list: the Store only) a digest of another period
# holds, and which digest: checked again when a draft is stored (bot/store/coverage.py record).
HELD_SQL = (
    "SELECT dm.message_id, dm.digest_id FROM digest_messages dm JOIN digests d ON d.id = dm.digest_id "
    f"WHERE dm.message_id IN :ids AND d.list_name = :list_name AND d.state IN ({_HOLDING_SQL}) "
    "AND NOT (d.period_start = :start AND d.period_end = :end)"
)

# Messages dated in the period that a digest of another (overlapping or later) period already holds.
TAKEN_SQL = in_range("SELECT m.message_id", "m.state != 'new' AND m.date >= :start AND m.date < :end "
                    f"AND {_HELD_ELSEWHERE}")

# The actions a new digest lists: still open, or done and not yet listed as done by a digest that
# holds it (drafted, awaiting, approved or sent; a redraft of the same period may list it again);
# only those of sent digests (an unsent draft's actions are proposals).
ACTION_COLUMNS = ("id", "who", "what", "digest_id", "message_id", "state", "created_at", "closed_at", "closed_by",
                  "closed_via", "note", "reported_in")
_ACTION_SELECT = ", ".join(f"a.{name}" for name in ACTION_COLUMNS) + ", d.period_start, d.state, a.closed_ref"
ACTIONS_SQL = (f"SELECT {_ACTION_SELECT} FROM actions a JOIN digests d ON d.id = a.digest_id "
               "AND d.list_name = :list_name")
# Listed as done by a digest that still holds it: no other period lists it again.
REPORTED_ELSEWHERE = (
    f"EXISTS (SELECT 1 FROM digests r WHERE r.id = a.reported_in AND r.state IN ({_HOLDING_SQL}) "
    "AND NOT (r.period_start = :start AND r.period_end = :end))"
)
CARRIED_SQL = f"{ACTIONS_SQL} WHERE d.state = 'sent' AND (a.state = 'open' OR NOT {REPORTED_ELSEWHERE}) ORDER BY a.id"


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
    closed_ref: str | None = None  # the message (a DONE: line, a reply) that closed it


def action_from_values(values: Sequence[Any]) -> TrackedAction:
    (id_, who, what, digest_id, message_id, state, created_at, closed_at, closed_by, closed_via, note, reported_in,
     since, digest_state, closed_ref) = values
    return TrackedAction(int(id_), who, what, int(digest_id), message_id, state, utc(created_at),
                         utc(closed_at) if closed_at is not None else None, closed_by, closed_via, note or "",
                         reported_in, utc(since), digest_state, closed_ref)
