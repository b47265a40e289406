"""The store: the only place that speaks SQL.

Its openers, each importing what it opens only when called, so that a
`poll`, `import` or `draft` against an SQLite file never imports SQLAlchemy.
Modules inside bot/store/ import each other directly, never from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.urls import safe_url as safe_url
from bot.store.urls import sqlite_path as sqlite_path

if TYPE_CHECKING:
    from bot.store.database import Store
    from bot.store.sqlite_reader import SqliteMailReader
    from bot.store.sqlite_writer import RawStore, SqliteStoreWriter
    from bot.store.syncstate import SyncState


def open_store(url: str, list_name: str | None = None) -> Store:
    """Connect, create or migrate the schema, and return the store (as list `list_name` sees it)."""
    from bot.store.database import open_store as open_database
    from bot.store.schema import DEFAULT_LIST

    return open_database(url, list_name or DEFAULT_LIST)


def attach_store(url: str) -> Store:
    """The store at `url` as it is, not created or migrated: for a worker process of an open store."""
    from bot.store.database import attach_store as attach_database

    return attach_database(url)


def open_mail_reader(url: str, list_name: str | None = None) -> SqliteMailReader | None:
    """The light reader for a current SQLite store file (list `list_name`'s mail); None when the Store must."""
    from bot.store.schema import DEFAULT_LIST, SCHEMA_VERSION
    from bot.store.sqlite_reader import SqliteMailReader

    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    reader = SqliteMailReader(path, list_name or DEFAULT_LIST)
    if reader.schema_version() != SCHEMA_VERSION:
        reader.close()
        return None
    return reader


def open_store_writer(url: str, list_name: str | None = None) -> SqliteStoreWriter | None:
    """The sqlite3 writer for a plain SQLite file store, created if new; None when the Store must open it.

    What it stores joins list `list_name` unless its add_raw is told other lists."""
    from bot.store.schema import DEFAULT_LIST
    from bot.store.sqlite import create_private
    from bot.store.sqlite_writer import SqliteStoreWriter

    path = sqlite_path(url)
    if path is None:
        return None
    try:
        create_private(path)
    except OSError:
        return None  # the Store says why, in its words
    writer = SqliteStoreWriter(path, url, list_name or DEFAULT_LIST)
    if not writer.ready():
        writer.close()
        return None
    return writer


def attach_writer(url: str) -> RawStore:
    """The store at `url` as it is, for a parse worker: through sqlite3 when it can be."""
    from bot.store.sqlite_writer import SqliteStoreWriter

    path = sqlite_path(url)
    if path is not None and path.is_file():
        return SqliteStoreWriter(path, url)
    return attach_store(url)


def open_sync_state(url: str, store: Store | None = None) -> SyncState:
    """The light sqlite3 state for a SQLite file, else one on the (open) Store."""
    from bot.store.syncstate import SqliteSyncState, StoreSyncState

    path = sqlite_path(url)
    if path is not None:
        return SqliteSyncState(path)
    return StoreSyncState(store if store is not None else open_store(url))
