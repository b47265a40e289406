"""Forward migrations between schema versions, run by the Store when it opens an older store.

MIGRATIONS[n - 2] takes a connection at version n - 1 and leaves the schema at
version n (bot/store/schema.py describes the newest).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from bot.store.identity import Identity, derived_key, identify
from bot.store.schema import DEFAULT_LIST
from bot.store.sqlite import chunks
from bot.store.tables import (
    actions,
    digest_messages,
    digest_revisions,
    digests,
    list_messages,
    message_raw,
    messages,
    schedule_runs,
    subscribers,
)


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
    moving: list[tuple[int, str, Identity]] = []
    for chunk in chunks(pks):
        rows = list(conn.execute(sa.select(messages.c.id, messages.c.message_id, message_raw.c.raw)
                                 .join(message_raw, message_raw.c.message_pk == messages.c.id)
                                 .where(messages.c.id.in_(chunk))))
        identities = {pk: identify(raw) for pk, _, raw in rows}
        values = [{"pk": pk, "fp": identity.fingerprint} for pk, identity in identities.items()]
        if values:
            conn.execute(update, values)
        moving += [(pk, key, identities[pk]) for pk, key, _ in rows if identities[pk].key != key]
    # Version 2 took any Message-ID without a space as the key ("<12345.67890>", "<abc>>"); such a
    # message is keyed by its content now, and a re-import or a resync looks for it there. Every row
    # to move leaves its old key first, so that none of them takes a key another is about to leave.
    for pk, _, _ in moving:
        conn.execute(messages.update().where(messages.c.id == pk).values(message_id=f"<rekey-{pk}@digestbot.invalid>"))
    renamed = {key: _rekey(conn, pk, identity) for pk, key, identity in moving}
    if renamed:
        _rename_in_digests(conn, renamed)


def _rekey(conn: sa.Connection, pk: int, identity: Identity) -> str:
    """Message `pk` is stored under the key an import by this version gives it; its new key.

    A key another message has already is a collision: the derived key, as a second import would give it.
    """
    key = identity.key
    collided = conn.scalar(sa.select(messages.c.id).where(messages.c.message_id == key)) is not None
    if collided:
        key = derived_key(identity.header_id or key, identity.fingerprint)
    conn.execute(messages.update().where(messages.c.id == pk).values(
        message_id=key, header_id=identity.header_id if collided else None))  # set for a collision only, as by import
    return key


def _rename_in_digests(conn: sa.Connection, renamed: dict[str, str]) -> None:
    """Stored drafts name their messages by key (each item's message_ids, each sentence's message_id).

    Nothing else refers to a message's key at version 2: used_tokens holds the
    Message-IDs of the chair's replies, which are never stored as messages.
    """
    def renamed_in(value: Any) -> Any:
        if isinstance(value, str):
            return renamed.get(value, value)
        if isinstance(value, list):
            return [renamed_in(v) for v in value]
        if isinstance(value, dict):
            return {k: renamed_in(v) if k != "html" and k != "text" else v for k, v in value.items()}
        return value

    table = digest_revisions
    for digest_id, number, data in list(conn.execute(sa.select(table.c.digest_id, table.c.revision, table.c.data))):
        old = json.loads(data)
        new = renamed_in(old)
        if new != old:
            conn.execute(table.update().where(table.c.digest_id == digest_id, table.c.revision == number)
                         .values(data=json.dumps(new, ensure_ascii=False)))  # as bot/store/drafts.py writes it


def _coverage_and_actions(conn: sa.Connection) -> None:
    """4: which digest took which message, and tracked actions (issue: minutes that remember)."""
    digest_messages.create(conn, checkfirst=True)
    actions.create(conn, checkfirst=True)


def _published(conn: sa.Connection) -> None:
    """5: nothing to change. The public archive (bot/publish) is rendered from what is already stored:
    the sent digests, the revision each delivery carried, and the time of the `sent` transition."""


def _lists(conn: sa.Connection) -> None:
    """6: rows belong to a list (issue: many lists, one instance).

    What was stored before belongs to the list of the config that opens the store now
    (`conn.info["list_name"]`, set by bot/store/database.py): every message, draft, subscriber and ledger row.
    """
    name = conn.info.get("list_name", DEFAULT_LIST)
    list_messages.create(conn, checkfirst=True)
    if not conn.scalar(sa.select(sa.func.count()).select_from(list_messages)):
        conn.execute(list_messages.insert().from_select(
            ["list_name", "message_pk"], sa.select(sa.literal(name, LIST_TYPE), messages.c.id)))
    found = sa.inspect(conn)
    if "list_name" not in {c["name"] for c in found.get_columns("digests")}:
        conn.exec_driver_sql(f"ALTER TABLE digests ADD COLUMN list_name {_list_column(conn)}")
    period = next(i for i in digests.indexes if i.name == "ix_digests_period")
    if [c["column_names"] for c in found.get_indexes("digests") if c["name"] == period.name] != [
            [c.name for c in period.columns]]:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {period.name}")
        period.create(conn)
    for table in (subscribers, schedule_runs):
        if found.get_pk_constraint(table.name)["constrained_columns"][0] != "list_name":
            _keyed_by_list(conn, table, found.get_pk_constraint(table.name)["name"])
    for table in (digests, subscribers, schedule_runs):
        conn.execute(table.update().where(table.c.list_name == DEFAULT_LIST).values(list_name=name))


LIST_TYPE = sa.String(100)


def _list_column(conn: sa.Connection) -> str:
    return f"{LIST_TYPE.compile(dialect=conn.dialect)} DEFAULT '{DEFAULT_LIST}' NOT NULL"


def _keyed_by_list(conn: sa.Connection, table: sa.Table, pk_name: str | None) -> None:
    """`table`'s key becomes (list_name, ...): a new column in front of it."""
    if conn.dialect.name == "sqlite":  # no ALTER of a key: the table is made again (nothing references it)
        old = f"{table.name}_v5"
        conn.exec_driver_sql(f'ALTER TABLE "{table.name}" RENAME TO "{old}"')
        table.create(conn)
        names = ", ".join(f'"{c.name}"' for c in table.columns if c.name != "list_name")
        conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{old}"')
        conn.exec_driver_sql(f'DROP TABLE "{old}"')
        return
    keys = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
    conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN list_name {_list_column(conn)}')
    conn.exec_driver_sql(f'ALTER TABLE "{table.name}" DROP CONSTRAINT "{pk_name}"')
    conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD PRIMARY KEY ({keys})')


def _refingerprinted(conn: sa.Connection) -> None:
    """7: every stored message's fingerprint by the current rule (bot/store/identity.py), which keeps an
    author's "[PATCH]" or "[RFC]" and cuts only a short last block after underscores. A fingerprint left
    by the old rule would make a re-import of such a message look like another message with its key."""
    update = messages.update().where(messages.c.id == sa.bindparam("pk")).values(fingerprint=sa.bindparam("fp"))
    for chunk in chunks(list(conn.scalars(sa.select(messages.c.id)))):
        rows = conn.execute(sa.select(messages.c.id, messages.c.fingerprint, message_raw.c.raw)
                            .join(message_raw, message_raw.c.message_pk == messages.c.id)
                            .where(messages.c.id.in_(chunk)))
        changed = [{"pk": pk, "fp": new} for pk, old, raw in rows if (new := identify(raw).fingerprint) != old]
        if changed:
            conn.execute(update, changed)


MIGRATIONS: list[Callable[[sa.Connection], None]] = [_index_by_state, _identity_and_ledger, _coverage_and_actions,
                                                     _published, _lists, _refingerprinted]
