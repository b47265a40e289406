"""The store's schema, once: every table as plain data, its version, and how a store records it.

Both drivers are built from this: bot/store/tables.py makes the SQLAlchemy
tables of it, and :data:`SCHEMA_SQL` is the SQLite DDL the sqlite3 writer
runs on a new store file. No SQLAlchemy here: the import fast path reads it.
A change to a table is a new SCHEMA_VERSION and a migration in
bot/store/migrations.py.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 7
VERSION_QUERY = "SELECT value FROM meta WHERE key = 'schema_version'"
# The store key of a single [list] config's list, whatever its name (bot/settings/: SINGLE_LIST_KEY);
# [[lists]] entries are keyed by their names. Rows from before lists belong to the list of the config
# that first opens the store at version 6: this one, or a many-list config's first (bot/store/migrations.py).
DEFAULT_LIST = "list"
LIST_NAME = "VARCHAR(100)"  # bot/settings/lists.py: a list's name is at most 100 characters

# Column kinds, as SQLite declares them (tables.py maps each to its SQLAlchemy type).
INT, BIGINT, TEXT, TIME, BOOL, BYTES = "INTEGER", "BIGINT", "TEXT", "DATETIME", "BOOLEAN", "BLOB"


def varchar(length: int) -> str:
    return f"VARCHAR({length})"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str
    required: bool = False  # NOT NULL
    key: bool = False  # part of the primary key (so NOT NULL too)
    unique: bool = False
    default: object = None  # filled in by SQLAlchemy on insert, not by the database
    references: str | None = None  # "table.column"
    server_default: str | None = None  # a text the database fills in (what older rows got when it was added)


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    indexes: tuple[Index, ...] = ()


def _table(name: str, *parts: Column | Index) -> Table:
    columns = tuple(p for p in parts if isinstance(p, Column))
    return Table(name, columns, tuple(p for p in parts if isinstance(p, Index)))


# In creation order: a table comes after those it references.
TABLES = (
    _table("meta", Column("key", varchar(64), key=True), Column("value", TEXT, required=True)),
    _table(
        "messages",
        Column("id", INT, key=True),
        # The storage key: the Message-ID, or one derived from it or from the content (bot/store/identity.py).
        Column("message_id", varchar(998), required=True, unique=True),
        Column("sha256", varchar(64), required=True),
        Column("size", INT, required=True),
        Column("origin", TEXT, required=True),
        Column("imported_at", TIME, required=True),
        Column("state", varchar(16), required=True, default="new"),  # new | parsed | flagged
        Column("flags", TEXT, required=True, default=""),  # space-separated
        Column("date", TIME),
        Column("subject", TEXT),
        Column("from_name", TEXT),
        Column("from_addr", TEXT),
        Column("in_reply_to", TEXT),
        Column("refs", TEXT),  # space-separated Message-IDs
        Column("body", TEXT),
        Column("attachments", TEXT),  # JSON list of file names
        # What the message says, transport headers aside: two copies of one message have the same.
        Column("fingerprint", varchar(64)),
        # The header's Message-ID when the storage key is derived from it (another message had it first).
        Column("header_id", varchar(998)),
        Index("ix_messages_date", ("date",)),
        # Messages by state: "what is still unparsed" after every import and poll, and the
        # counts `status` shows, without scanning the (large) messages table.
        Index("ix_messages_state", ("state",)),
    ),
    _table(
        "message_raw",
        Column("message_pk", INT, key=True, references="messages.id"),
        Column("raw", BYTES, required=True),
    ),
    _table(
        "list_messages",  # a message is stored once and belongs to every list whose folder it came from
        Column("list_name", LIST_NAME, key=True),
        Column("message_pk", INT, key=True, references="messages.id"),
        Index("ix_list_messages_message_pk", ("message_pk",)),
    ),
    _table(
        "sync_state",
        Column("folder", varchar(512), key=True),
        Column("uidvalidity", BIGINT),
        Column("last_uid", BIGINT, required=True, default=0),
        Column("last_poll_at", TIME),
        Column("last_error", TEXT),
    ),
    _table(
        "digests",
        Column("id", INT, key=True),
        Column("period_start", TIME, required=True),
        Column("period_end", TIME, required=True),
        Column("state", varchar(24), required=True),
        Column("revision", INT, required=True, default=1),
        Column("mail_message_id", varchar(998), required=True),
        Column("created_at", TIME, required=True),
        Column("updated_at", TIME, required=True),
        Column("reminded_at", TIME),
        Column("superseded_by", INT),
        Column("list_name", LIST_NAME, required=True, server_default=DEFAULT_LIST),  # last: added by version 6
        # A list's drafts, by period (version 6 put list_name in front).
        Index("ix_digests_period", ("list_name", "period_start", "period_end")),
    ),
    _table(
        "digest_revisions",
        Column("digest_id", INT, key=True, references="digests.id"),
        Column("revision", INT, key=True),
        Column("subject", TEXT, required=True),
        Column("markdown", TEXT, required=True),  # the editable source
        Column("data", TEXT, required=True),  # the digest as JSON
        Column("created_at", TIME, required=True),
        Column("created_by", TEXT, required=True),
    ),
    _table(
        "transitions",
        Column("id", INT, key=True),
        Column("digest_id", INT, required=True, references="digests.id"),
        Column("from_state", varchar(24)),
        Column("to_state", varchar(24), required=True),
        Column("actor", TEXT, required=True),
        Column("via", varchar(16), required=True),  # cli | email | scheduler
        Column("at", TIME, required=True),
        Column("note", TEXT, required=True, default=""),
        Index("ix_transitions_digest_id", ("digest_id",)),
    ),
    _table(
        "deliveries",
        Column("digest_id", INT, key=True, references="digests.id"),
        Column("recipient", varchar(512), key=True),
        Column("revision", INT, required=True),
        Column("state", varchar(16), required=True),  # pending | sending | sent | failed
        Column("attempts", INT, required=True, default=0),
        Column("last_error", TEXT),
        Column("updated_at", TIME, required=True),
    ),
    _table(
        "subscribers",
        Column("list_name", LIST_NAME, key=True, server_default=DEFAULT_LIST),
        Column("address", varchar(512), key=True),
        Column("name", TEXT, required=True, default=""),
        Column("active", BOOL, required=True, default=True),
        Column("changed_at", TIME, required=True),
        Column("changed_via", varchar(16), required=True, default="cli"),
    ),
    _table(
        "used_tokens",
        Column("token", varchar(128), key=True),
        Column("used_at", TIME, required=True),
        # The reply that used it: the same reply polled twice is not a replay.
        Column("message_id", varchar(998), required=True, default=""),
    ),
    _table(
        "schedule_runs",  # the scheduler's ledger: one row per job of each list
        Column("list_name", LIST_NAME, key=True, server_default=DEFAULT_LIST),
        Column("job_id", varchar(64), key=True),
        Column("owed_for", TIME),  # fire time of a run that is due and not finished
        Column("started_at", TIME),  # set while that run is under way
        Column("last_for", TIME),
        Column("last_at", TIME),
        Column("last_outcome", varchar(16)),  # ok | skipped | failed | missed
        Column("last_line", TEXT),
        Column("failures", INT, required=True, default=0),  # in a row
    ),
    _table(
        "digest_messages",  # which messages each digest took: a message is in one sent digest only
        Column("digest_id", INT, key=True, references="digests.id"),
        Column("message_id", varchar(998), key=True),
        Column("late", BOOL, required=True, default=False),  # dated before the digest's period
        Column("left_out", varchar(32), required=True, default=""),  # why it is not in an item ("" if it is)
        Index("ix_digest_messages_message_id", ("message_id",)),
    ),
    _table(
        "actions",  # the minutes' tracked actions, open until closed
        Column("id", INT, key=True),
        Column("who", TEXT, required=True),
        Column("what", TEXT, required=True),
        Column("digest_id", INT, required=True, references="digests.id"),  # the digest it first appeared in
        Column("message_id", varchar(998), required=True),  # the message it was lifted from
        Column("state", varchar(16), required=True, default="open"),  # open | done
        Column("created_at", TIME, required=True),
        Column("closed_at", TIME),
        Column("closed_by", TEXT),
        Column("closed_via", varchar(16)),  # cli | email | mail (a DONE: line on the list)
        Column("closed_ref", varchar(998)),  # the closing message's Message-ID (a reply polled twice closes once)
        Column("note", TEXT, required=True, default=""),
        Column("reported_in", INT),  # the digest that lists it as done since the last digest
        Index("ix_actions_state", ("state",)),
    ),
)
TABLE = {table.name: table for table in TABLES}


def create_table_sql(table: Table) -> str:
    """SQLite's CREATE TABLE for `table`, declared as SQLAlchemy declares it."""
    lines = [f'"{c.name}" {c.kind}' + (f" DEFAULT '{c.server_default}'" if c.server_default is not None else "")
             + (" NOT NULL" if c.required or c.key else "") for c in table.columns]
    lines.append("PRIMARY KEY ({})".format(", ".join(f'"{c.name}"' for c in table.columns if c.key)))
    lines.extend(f'UNIQUE ("{c.name}")' for c in table.columns if c.unique)
    for column in table.columns:
        if column.references:
            other, _, name = column.references.partition(".")
            lines.append(f'FOREIGN KEY("{column.name}") REFERENCES "{other}" ("{name}")')
    return f'CREATE TABLE "{table.name}" (\n\t' + ", \n\t".join(lines) + "\n)"


def create_index_sql(table: Table, index: Index) -> str:
    columns = ", ".join(f'"{name}"' for name in index.columns)
    return f'CREATE INDEX IF NOT EXISTS "{index.name}" ON "{table.name}" ({columns})'


# What a new SQLite store is made of, in order.
SCHEMA_SQL = tuple(
    statement
    for table in TABLES
    for statement in (create_table_sql(table), *(create_index_sql(table, index) for index in table.indexes))
)


def version_from(value: object) -> int | None:
    """The schema version a `meta` value records; None when there is none (a store not completely created)."""
    if value is None or not str(value).strip():
        return None
    return int(str(value))
