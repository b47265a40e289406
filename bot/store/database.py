"""The store: every message's raw bytes first, then what the pipeline learns.

SQLAlchemy Core on SQLite by default (any SQLAlchemy URL works), with a schema
version in `meta` and forward migrations applied on open.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from bot.errors import StoreError, sqlite_trouble
from bot.model import Mail, RawMail
from bot.store.access import WRITES, begin_write
from bot.store.groups import Groups, Transaction, begin
from bot.store.identity import Placed, derived_keys, identify, place
from bot.store.migrations import MIGRATIONS
from bot.store.minutes import TrackedAction
from bot.store.rows import MAIL_COLUMNS, Stored, mail_from_values, message_row, now, parsed_row
from bot.store.schema import DEFAULT_LIST, SCHEMA_VERSION, VERSION_QUERY, version_from
from bot.store.sqlite import chunks, create_private, sqlite_pragmas
from bot.store.tables import (
    digests,
    list_messages,
    message_raw,
    messages,
    meta,
    metadata,
)
from bot.store.urls import safe_url

__all__ = ["Store", "attach_store", "database_file", "now", "open_store"]


class Store(Groups):
    """Access to the database; one per process, passed down from the CLI.

    Messages are read and written by the methods below; drafts, deliveries,
    subscribers, tokens and the schedule ledger through the groups it has
    from `Groups` (store.drafts, ...), alone or in one `transaction()`.
    """

    def __init__(self, engine: sa.Engine, list_name: str = DEFAULT_LIST) -> None:
        super().__init__(engine, list_name=list_name)

    def for_list(self, list_name: str) -> Store:
        """This store, as list `list_name` sees it (the same engine: no new connections)."""
        return Store(self.engine, list_name)

    def transaction(self) -> AbstractContextManager[Transaction]:
        """`with store.transaction() as tx:` the groups (tx.drafts, ...) in one transaction."""
        return begin(self.engine, self.list_name)

    def close(self) -> None:
        """Close the pooled connections (the store stays usable: it reconnects on the next call)."""
        self.engine.dispose()

    @property
    def shared_url(self) -> str | None:
        """A URL another process can open for this same database (None for an in-memory one)."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            return None
        return url.render_as_string(hide_password=False)

    # -- messages ---------------------------------------------------------

    def add_raw(self, batch: Sequence[RawMail], lists: Sequence[str] | None = None) -> list[Stored]:
        """Store raw bytes under their keys (bot/store/identity.py); a message already stored is not stored twice.

        Each message belongs to `lists` from now on (None: this store's list), stored before or not.
        Returns one `Stored` per distinct message in `batch`, in order.
        """
        identities = [identify(mail.raw) for mail in batch]
        with begin_write(self.engine) as conn:  # what _stored_under finds must hold until the inserts
            if conn.dialect.name == "postgresql":  # (SQLite's write lock holds it; here, instances take turns)
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADD_LOCK})
            stored = self._stored_under(conn, [identity.key for identity in identities])
            stored.update(self._stored_under(conn, derived_keys(identities, stored)))
            placed = place(identities, stored)
            added = iter(self._insert(conn, [(p, batch[p.index]) for p in placed if p.pk is None]))
            pks = [p.pk if p.pk is not None else next(added) for p in placed]
            self._join(conn, pks, (self.list_name,) if lists is None else lists)
        return [Stored(pk, p.key, p.pk is None, batch[p.index].raw) for pk, p in zip(pks, placed, strict=True)]

    @staticmethod
    def _insert(conn: sa.Connection, fresh: list[tuple[Placed, RawMail]]) -> list[int]:
        """Insert new messages and their raw bytes; their primary keys, in order.

        One executemany per table (building a statement per row costs more
        than SQLite's work); without RETURNING for executemany, row by row.
        """
        if not fresh:
            return []
        stamp = now()
        rows = [message_row(placed, mail, stamp) for placed, mail in fresh]
        if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
            query = messages.insert().returning(messages.c.id, sort_by_parameter_order=True)
            pks = list(conn.execute(query, rows).scalars())
        else:
            pks = [_inserted_pk(conn.execute(messages.insert(), row)) for row in rows]
        conn.execute(message_raw.insert(), [{"message_pk": pk, "raw": mail.raw}
                                            for pk, (_, mail) in zip(pks, fresh, strict=True)])
        return pks

    @staticmethod
    def _join(conn: sa.Connection, pks: Sequence[int], lists: Sequence[str]) -> None:
        """Messages `pks` belong to `lists`, once each."""
        for name in lists:
            for chunk in chunks(list(dict.fromkeys(pks))):
                have = set(conn.scalars(sa.select(list_messages.c.message_pk).where(
                    list_messages.c.list_name == name, list_messages.c.message_pk.in_(chunk))))
                rows = [{"list_name": name, "message_pk": pk} for pk in chunk if pk not in have]
                if rows:
                    conn.execute(list_messages.insert(), rows)

    @staticmethod
    def _stored_under(conn: sa.Connection, keys: list[str]) -> dict[str, tuple[int, str | None]]:
        """The rows stored under any of `keys`: key -> (primary key, fingerprint)."""
        found: dict[str, tuple[int, str | None]] = {}
        columns = (messages.c.message_id, messages.c.id, messages.c.fingerprint)
        for chunk in chunks(list(dict.fromkeys(keys))):
            rows = conn.execute(sa.select(*columns).where(messages.c.message_id.in_(chunk)))
            found.update({row[0]: (row[1], row[2]) for row in rows})
        return found

    def raw_of(self, pks: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        with self.engine.connect() as conn:
            for chunk in chunks(pks):
                query = sa.select(message_raw.c.message_pk, message_raw.c.raw).where(
                    message_raw.c.message_pk.in_(chunk)
                )
                for row in conn.execute(query):
                    yield row[0], row[1]

    def unparsed(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.scalars(sa.select(messages.c.id).where(messages.c.state == "new").order_by(messages.c.id)))

    def save_parsed(self, parsed: Iterable[tuple[int, Mail]]) -> None:
        rows = [parsed_row(pk, mail) for pk, mail in parsed]
        if not rows:
            return
        query = messages.update().where(messages.c.id == sa.bindparam("pk")).values(
            {k: sa.bindparam(k) for k in rows[0] if k != "pk"}
        )
        with self.engine.begin() as conn:
            conn.execute(query, rows)

    def checkpoint(self) -> None:
        """As SqliteStoreWriter.checkpoint, for an SQLite store; other databases have nothing to do."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def mails_between(self, start: datetime, end: datetime) -> list[Mail]:
        return self.coverage.mails_between(start, end)

    def mails_by_ids(self, ids: Iterable[str]) -> list[Mail]:
        wanted = list(dict.fromkeys(ids))
        out: list[Mail] = []
        with self.engine.connect() as conn:
            for chunk in chunks(wanted):
                query = _mail_select().where(messages.c.message_id.in_(chunk))
                out.extend(mail_from_values(row) for row in conn.execute(query))
        return out

    def late_mails(self, start: datetime, end: datetime) -> list[Mail]:
        return self.coverage.late_mails(start, end)

    def taken_elsewhere(self, start: datetime, end: datetime) -> set[str]:
        return self.coverage.taken_elsewhere(start, end)

    def carried_actions(self, start: datetime, end: datetime) -> list[TrackedAction]:
        return self.actions.carried(start, end)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(messages.c.state, sa.func.count()).group_by(messages.c.state))
            by_state = {state: n for state, n in rows}
        return {
            "messages": sum(by_state.values()),
            "parsed": by_state.get("parsed", 0),
            "flagged": by_state.get("flagged", 0),
            "unparsed": by_state.get("new", 0),
        }

    def list_of_digest(self, digest_id: int) -> str | None:
        """The list a draft belongs to, whichever list this store is of; None if there is no such draft."""
        with self.engine.connect() as conn:
            found = conn.scalar(sa.select(digests.c.list_name).where(digests.c.id == digest_id))
        return None if found is None else str(found)

    def list_counts(self) -> dict[str, int]:
        """How many messages each list has (a cross-post counts in each)."""
        query = sa.select(list_messages.c.list_name, sa.func.count()).group_by(list_messages.c.list_name)
        with self.engine.connect() as conn:
            return {name: n for name, n in conn.execute(query)}

    def collisions(self) -> int:
        """Messages stored under a derived key: another message had their Message-ID, with other content."""
        with self.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).where(messages.c.header_id.is_not(None))) or 0)

    def flagged(self, limit: int = 100) -> list[tuple[str, str, str]]:
        query = (
            sa.select(messages.c.message_id, messages.c.origin, messages.c.flags)
            .where(messages.c.state == "flagged").order_by(messages.c.id).limit(limit)
        )
        with self.engine.connect() as conn:
            return [(row[0], row[1], row[2]) for row in conn.execute(query)]

    def message_states(self, ids: Sequence[str]) -> dict[str, tuple[str, str, str]]:
        """Message-ID -> (state, sha256 of the stored bytes, flags) for those of `ids` that are stored."""
        found: dict[str, tuple[str, str, str]] = {}
        columns = (messages.c.message_id, messages.c.state, messages.c.sha256, messages.c.flags)
        with self.engine.connect() as conn:
            for chunk in chunks(list(ids)):
                rows = conn.execute(sa.select(*columns).where(messages.c.message_id.in_(chunk)))
                found.update({r.message_id: (r.state, r.sha256, r.flags) for r in rows})
        return found

    def integrity(self) -> str:
        """SQLite's own integrity check ("ok" when sound); other databases: "n/a"."""
        if self.engine.dialect.name != "sqlite":
            return "n/a"
        try:
            with self.engine.connect() as conn:
                rows = [row[0] for row in conn.exec_driver_sql("PRAGMA quick_check")]
        except StoreError as exc:  # damage bad enough to stop the check itself: that is its finding
            return str(exc).partition(": ")[2]
        return "ok" if rows == ["ok"] else "; ".join(rows[:5])


def _inserted_pk(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _mail_select() -> sa.Select[Any]:
    return sa.select(*(messages.c[name] for name in MAIL_COLUMNS)).where(messages.c.state != "new")


def open_store(url: str, list_name: str = DEFAULT_LIST) -> Store:
    """Connect, create or migrate the schema, and return the store, as list `list_name` sees it.

    A store from before lists (schema version 5) gives everything it holds to `list_name`.
    """
    try:
        engine = _engine(url)
        _migrate(engine, list_name)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot open store {safe_url(url)}: {exc.__class__.__name__}: {_first_line(exc)}") from None
    except OSError as exc:
        raise StoreError(f"cannot open store {safe_url(url)}: {exc.strerror}") from None
    return Store(engine, list_name)


def database_file(url: str) -> str | None:
    """The database of an SQLite URL as SQLAlchemy reads it ("" or ":memory:" for a private
    in-memory one); None for a URL of another database."""
    parsed = sa.engine.make_url(url)
    return (parsed.database or "") if parsed.get_backend_name() == "sqlite" else None


def attach_store(url: str) -> Store:
    """The store at `url` as it is, not created or migrated: for a worker process of an open store."""
    return Store(_engine(url))


def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite:///"):
        create_private(Path(url.removeprefix("sqlite:///")))
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "handle_error", functools.partial(_sqlite_trouble, safe_url(url)))
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _utc_session)
        event.listen(engine, "before_cursor_execute", _without_nul, retval=True)
        event.listen(engine, "handle_error", functools.partial(_server_trouble, safe_url(url)))
    return engine


def _server_trouble(where: str, context: sa.engine.ExceptionContext) -> None:
    """The server gone, refusing us or out of space: one StoreError line, as SQLite's trouble is, not a traceback."""
    if isinstance(context.sqlalchemy_exception, sa.exc.OperationalError):
        raise StoreError(f"store {where}: {_first_line(context.original_exception)}") from None


def _without_nul(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                 _executemany: bool) -> tuple[str, Any]:
    """PostgreSQL text cannot hold NUL, which mail bodies (and chairs' replies) can: store a space.

    Whatever reads these fields treats NUL as a space already (rendering turns
    control characters into spaces), so the digest is the one SQLite gives.
    """
    # One set of parameters, or (executemany) a list of them; "insertmanyvalues" batches pass one set.
    if isinstance(parameters, list) and parameters and isinstance(parameters[0], (dict, list, tuple)):
        return statement, [_nul_to_space(one) for one in parameters]
    return statement, _nul_to_space(parameters)


def _nul_to_space(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        if any(isinstance(v, str) and "\x00" in v for v in parameters.values()):
            return {k: v.replace("\x00", " ") if isinstance(v, str) else v for k, v in parameters.items()}
    elif isinstance(parameters, (list, tuple)) and any(isinstance(v, str) and "\x00" in v for v in parameters):
        return type(parameters)(v.replace("\x00", " ") if isinstance(v, str) else v for v in parameters)
    return parameters


def _utc_session(dbapi_conn: Any, _record: Any) -> None:
    """PostgreSQL hands back timestamps in the session's zone, the server's own by default: make it UTC,
    so that what the store reads (periods, dates, days) is what SQLite gives, on any server."""
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True  # a SET inside the driver's implicit transaction would be rolled back with it
    cursor = dbapi_conn.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.close()
    dbapi_conn.autocommit = autocommit


def _sqlite_trouble(where: str, context: sa.engine.ExceptionContext) -> None:
    """A full disk, an I/O error, a busy or damaged file: one StoreError line, not a traceback."""
    trouble = sqlite_trouble(context.original_exception, where)
    if trouble is not None:
        raise trouble


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    sqlite_pragmas(dbapi_conn)
    # The driver's own transaction handling begins a transaction only before a write (a read before it
    # sees whatever commits meanwhile) and runs DDL outside any: off, and `_sqlite_begin` begins them.
    dbapi_conn.isolation_level = None


def _sqlite_begin(conn: sa.Connection) -> None:
    """SQLAlchemy's recipe for SQLite transactions: BEGIN IMMEDIATE (the write lock) for a transaction
    that writes (bot.store.access.begin_write), a plain BEGIN for one that reads."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITES) else "BEGIN")


# pg_advisory_xact_lock's keys (bot/store/ledger.py has ...0001 for the schedule's set-up)
MIGRATION_LOCK = 0x6469676573740002
ADD_LOCK = 0x6469676573740003  # add_raw: new messages, stored by one instance at a time


def _migrate(engine: sa.Engine, list_name: str) -> None:
    with engine.connect() as conn:
        if _schema_version(conn) == SCHEMA_VERSION:
            return  # opening a current store writes nothing, nor waits for a writer
    # With the write lock on SQLite: a schema is created or migrated whole or not at all, by one process
    # at a time (the version is read again under it: another process may have done it meanwhile).
    with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":  # instances sharing a store may start together: one migrates
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        conn.info["list_name"] = list_name  # whose rows the older ones become (migrations._lists)
        version = _schema_version(conn)
        if version is None:
            # A new store, or one whose creation was killed half-way by an older digestbot (whose
            # CREATEs each committed at once): create what is missing, and record the version last.
            metadata.create_all(conn)
            for index in (i for table in metadata.sorted_tables for i in table.indexes):
                index.create(conn, checkfirst=True)  # create_all skips those of existing tables
            conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            return
        if version > SCHEMA_VERSION:
            raise StoreError(f"store schema version {version} is newer than this digestbot ({SCHEMA_VERSION})")
        if version == SCHEMA_VERSION:
            return
        for step in MIGRATIONS[version - 1 :]:
            step(conn)
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))


def _schema_version(conn: sa.Connection) -> int | None:
    """The recorded schema version; None for a store not (completely) created."""
    if not sa.inspect(conn).has_table("meta"):
        return None
    return version_from(conn.exec_driver_sql(VERSION_QUERY).scalar())


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else ""
