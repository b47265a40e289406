"""The store's tables as SQLAlchemy Core sees them, made from the one schema in bot/store/schema.py."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from bot.store import schema

_TYPES: dict[str, Any] = {
    schema.INT: sa.Integer, schema.BIGINT: sa.BigInteger, schema.TEXT: sa.Text,
    schema.TIME: sa.DateTime(timezone=True), schema.BOOL: sa.Boolean, schema.BYTES: sa.LargeBinary,
}


def _type(kind: str) -> Any:
    if kind.startswith("VARCHAR("):
        return sa.String(int(kind.removeprefix("VARCHAR(").removesuffix(")")))
    return _TYPES[kind]


def _column(column: schema.Column) -> sa.Column[Any]:
    foreign = (sa.ForeignKey(column.references),) if column.references else ()
    return sa.Column(column.name, _type(column.kind), *foreign, primary_key=column.key,
                     nullable=not (column.required or column.key), unique=column.unique or None,
                     default=column.default,
                     server_default=column.server_default)


def _table(metadata: sa.MetaData, table: schema.Table) -> sa.Table:
    made = sa.Table(table.name, metadata, *(_column(c) for c in table.columns),
                    *(sa.Index(index.name, *index.columns) for index in table.indexes))
    # Created in the schema's order, as the sqlite3 writer creates them (a plain set's order is the
    # objects' addresses, and SQLite records the order it was given).
    order = [index.name for index in table.indexes]
    made.indexes = sa.util.OrderedSet(sorted(made.indexes, key=lambda index: order.index(str(index.name))))
    return made


metadata = sa.MetaData()
_made = {table.name: _table(metadata, table) for table in schema.TABLES}

meta = _made["meta"]
messages = _made["messages"]
message_raw = _made["message_raw"]
list_messages = _made["list_messages"]
sync_state = _made["sync_state"]
digests = _made["digests"]
digest_revisions = _made["digest_revisions"]
transitions = _made["transitions"]
deliveries = _made["deliveries"]
subscribers = _made["subscribers"]
used_tokens = _made["used_tokens"]
schedule_runs = _made["schedule_runs"]
digest_messages = _made["digest_messages"]
actions = _made["actions"]
# schedule_runs used to live on a MetaData of its own, created on first use; the store creates it now
# (schema version 3), so this is the one MetaData, kept under that name for callers not yet moved.
ledger_metadata = metadata
