"""Forward migrations between schema versions, run by the Store when it opens an older store.

MIGRATIONS[n - 2] takes a connection at version n - 1 and leaves the schema at
version n (bot/store/schema.py describes the newest).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from bot.store.identity import fingerprint
from bot.store.sqlite import chunks
from bot.store.tables import actions, digest_messages, message_raw, messages, schedule_runs


def _index_by_state(conn: sa.Connection) -> None:
    """2: ix_messages_state."""
    next(i for i in messages.indexes if i.name == "ix_messages_state").create(conn, checkfirst=True)


def _identity_and_ledger(conn: sa.Connection) -> None:
    """3: messages.fingerprint and messages.header_id (filled in for stored mail), and schedule_runs.

    schedule_runs may be there already: the scheduler created it on its own before it was in the schema.
    """
    schedule_runs.create(conn, checkfirst=True)
    have = {column["name"] for column in sa.inspect(conn).get_columns("messages")}
    for name in ("fingerprint", "header_id"):
        if name not in have:
            column = messages.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE messages ADD COLUMN {name} {kind}")
    pks = list(conn.scalars(sa.select(messages.c.id).where(messages.c.fingerprint.is_(None))))
    update = messages.update().where(messages.c.id == sa.bindparam("pk")).values(fingerprint=sa.bindparam("fp"))
    for chunk in chunks(pks):
        rows = conn.execute(sa.select(message_raw.c.message_pk, message_raw.c.raw)
                            .where(message_raw.c.message_pk.in_(chunk)))
        values = [{"pk": pk, "fp": fingerprint(raw)} for pk, raw in rows]
        if values:
            conn.execute(update, values)


def _coverage_and_actions(conn: sa.Connection) -> None:
    """4: which digest took which message, and tracked actions (issue: minutes that remember)."""
    digest_messages.create(conn, checkfirst=True)
    actions.create(conn, checkfirst=True)


def _published(conn: sa.Connection) -> None:
    """5: the published archive's pages (issue: a public archive of the minutes)."""


MIGRATIONS: list[Callable[[sa.Connection], None]] = [_index_by_state, _identity_and_ledger, _coverage_and_actions,
                                                     _published]
