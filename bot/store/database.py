"""The store: every message's raw bytes first, then what the pipeline learns.

SQLAlchemy Core on SQLite by default (any SQLAlchemy URL works), with a schema
version in `meta` and forward migrations applied on open.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from bot.errors import StoreError, sqlite_trouble
from bot.model import Mail, RawMail
from bot.store.sqlite_reader import MAIL_COLUMNS, SCHEMA_VERSION, mail_from_values
from bot.store.sqlite_writer import Stored as Stored  # defined with the sqlite3 write path, imported from here too
from bot.store.sqlite_writer import create_private, message_row, parsed_row, sqlite_pragmas
from bot.store.sqlite_writer import message_id_of as message_id_of
from bot.store.sqlite_writer import now as now
from bot.store.tables import (  # noqa: F401 - re-exported until every caller imports bot.store.tables
    MIGRATIONS,
    deliveries,
    digest_revisions,
    digests,
    message_raw,
    messages,
    meta,
    metadata,
    state_index,
    subscribers,
    sync_state,
    transitions,
    used_tokens,
)


class Store:
    """Access to the database; one per process, passed down from the CLI."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @property
    def shared_url(self) -> str | None:
        """A URL another process can open for this same database (None for an in-memory one)."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            return None
        return url.render_as_string(hide_password=False)

    # -- messages ---------------------------------------------------------

    def add_raw(self, batch: Sequence[RawMail]) -> list[Stored]:
        """Store raw bytes keyed by Message-ID; a known id is not stored twice.

        Returns one `Stored` per distinct Message-ID in `batch`, in order.
        """
        keyed: dict[str, RawMail] = {}
        for mail in batch:
            keyed.setdefault(message_id_of(mail.raw), mail)
        with self.engine.begin() as conn:
            known = self._existing_ids(conn, list(keyed))
            fresh = [(mid, mail) for mid, mail in keyed.items() if mid not in known]
            added = dict(zip((mid for mid, _ in fresh), self._insert(conn, fresh), strict=True))
        return [
            Stored(known[mid], mid, False, mail.raw) if mid in known else Stored(added[mid], mid, True, mail.raw)
            for mid, mail in keyed.items()
        ]

    @staticmethod
    def _insert(conn: sa.Connection, fresh: list[tuple[str, RawMail]]) -> list[int]:
        """Insert new messages and their raw bytes; their primary keys, in order.

        One executemany per table (building a statement per row costs more
        than SQLite's work); without RETURNING for executemany, row by row.
        """
        if not fresh:
            return []
        stamp = now()
        rows = [message_row(mid, mail, stamp) for mid, mail in fresh]
        if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
            query = messages.insert().returning(messages.c.id, sort_by_parameter_order=True)
            pks = list(conn.execute(query, rows).scalars())
        else:
            pks = [_inserted_pk(conn.execute(messages.insert(), row)) for row in rows]
        conn.execute(message_raw.insert(), [{"message_pk": pk, "raw": mail.raw}
                                            for pk, (_, mail) in zip(pks, fresh, strict=True)])
        return pks

    @staticmethod
    def _existing_ids(conn: sa.Connection, ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(sa.select(messages.c.message_id, messages.c.id).where(messages.c.message_id.in_(chunk)))
            found.update({row[0]: row[1] for row in rows})
        return found

    def raw_of(self, pks: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        with self.engine.connect() as conn:
            for start in range(0, len(pks), 500):
                query = sa.select(message_raw.c.message_pk, message_raw.c.raw).where(
                    message_raw.c.message_pk.in_(pks[start : start + 500])
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
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        query = _mail_select().where(messages.c.date >= start, messages.c.date < end)
        with self.engine.connect() as conn:
            return [mail_from_values(row) for row in conn.execute(query.order_by(messages.c.date, messages.c.id))]

    def mails_by_ids(self, ids: Iterable[str]) -> list[Mail]:
        wanted = list(dict.fromkeys(ids))
        out: list[Mail] = []
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                query = _mail_select().where(messages.c.message_id.in_(wanted[start : start + 500]))
                out.extend(mail_from_values(row) for row in conn.execute(query))
        return out

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

    def flagged(self, limit: int = 100) -> list[tuple[str, str, str]]:
        query = (
            sa.select(messages.c.message_id, messages.c.origin, messages.c.flags)
            .where(messages.c.state == "flagged").order_by(messages.c.id).limit(limit)
        )
        with self.engine.connect() as conn:
            return [(row[0], row[1], row[2]) for row in conn.execute(query)]

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


def open_store(url: str) -> Store:
    """Connect, create or migrate the schema, and return the store."""
    try:
        engine = _engine(url)
        _migrate(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot open store {_safe_url(url)}: {exc.__class__.__name__}: {_first_line(exc)}") from None
    except OSError as exc:
        raise StoreError(f"cannot open store {_safe_url(url)}: {exc.strerror}") from None
    return Store(engine)


def attach_store(url: str) -> Store:
    """The store at `url` as it is, not created or migrated: for a worker process of an open store."""
    return Store(_engine(url))


def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite:///"):
        create_private(Path(url.removeprefix("sqlite:///")))
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "handle_error", functools.partial(_sqlite_trouble, _safe_url(url)))
    return engine


def _sqlite_trouble(where: str, context: sa.engine.ExceptionContext) -> None:
    """A full disk, an I/O error, a busy or damaged file: one StoreError line, not a traceback."""
    trouble = sqlite_trouble(context.original_exception, where)
    if trouble is not None:
        raise trouble


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    sqlite_pragmas(dbapi_conn)


def _migrate(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if _schema_version(conn) == str(SCHEMA_VERSION):
            return  # opening a current store writes nothing
        if conn.dialect.name == "sqlite":
            # SQLite's driver runs DDL outside any transaction unless one is begun: begin one, with the
            # write lock, so a schema is created or migrated whole or not at all, by one process at a time.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        found = _schema_version(conn)
        if found is None:
            # A new store, or one whose creation was killed half-way by an older digestbot (whose
            # CREATEs each committed at once): create what is missing, and record the version last.
            metadata.create_all(conn)
            for index in (i for table in metadata.sorted_tables for i in table.indexes):
                index.create(conn, checkfirst=True)  # create_all skips those of existing tables
            conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            return
        version = int(found)
        if version > SCHEMA_VERSION:
            raise StoreError(f"store schema version {version} is newer than this digestbot ({SCHEMA_VERSION})")
        if version == SCHEMA_VERSION:
            return
        for step in MIGRATIONS[version - 1 :]:
            step(conn)
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))


def _schema_version(conn: sa.Connection) -> str | None:
    """The recorded schema version; None for a store not (completely) created."""
    if not sa.inspect(conn).has_table("meta"):
        return None
    value = conn.scalar(sa.select(meta.c.value).where(meta.c.key == "schema_version"))
    return None if value is None else str(value)


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else ""
