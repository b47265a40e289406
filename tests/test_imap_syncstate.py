"""The per-folder sync state: the light sqlite3 path and the Store path agree."""

from __future__ import annotations

from pathlib import Path

from bot.store import open_sync_state, sqlite_path
from bot.store.database import open_store
from bot.store.syncstate import SqliteSyncState, StoreSyncState


def test_no_store_yet_means_no_state_and_no_file(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    state = open_sync_state(f"sqlite:///{path}")
    assert isinstance(state, SqliteSyncState)
    assert not state.ready()
    assert state.get("INBOX") is None
    state.failed("INBOX", "imap: boom")  # nothing to remember it in: the Store creates the file
    assert not path.exists()


def test_sqlite3_and_sqlalchemy_read_each_others_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = open_store(url)
    light, heavy = SqliteSyncState(tmp_path / "store.sqlite3"), StoreSyncState(store)
    assert light.ready()

    light.progress("INBOX", 42, 100)
    light.polled("INBOX", 42, 120)
    heavy.polled("Lists/dev", 7, 3)
    heavy.failed("Lists/dev", "imap: folder 'Lists/dev' does not exist")

    for state in (light, heavy):
        inbox, dev = state.all()
        assert (inbox.folder, inbox.uidvalidity, inbox.last_uid, inbox.last_error) == ("INBOX", 42, 120, None)
        assert inbox.last_poll_at is not None and inbox.last_poll_at.tzinfo is not None
        assert (dev.uidvalidity, dev.last_uid) == (7, 3)  # an error keeps the progress
        assert dev.last_error == "imap: folder 'Lists/dev' does not exist"
    assert light.get("INBOX") == heavy.get("INBOX")
    light.close()
    store.engine.dispose()


def test_an_error_on_a_new_folder_starts_it_at_zero(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    open_store(url).engine.dispose()
    state = open_sync_state(url)
    state.failed("Lists/new", "imap: login failed")
    found = state.get("Lists/new")
    assert found is not None and (found.uidvalidity, found.last_uid, found.last_poll_at) == (None, 0, None)
    state.polled("Lists/new", 9, 0)
    assert state.get("Lists/new").last_error is None  # type: ignore[union-attr]


def test_only_plain_sqlite_files_take_the_light_path(tmp_path: Path) -> None:
    assert sqlite_path(f"sqlite:///{tmp_path}/s.sqlite3") == tmp_path / "s.sqlite3"
    assert sqlite_path("sqlite://") is None
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("sqlite:///x.db?mode=ro") is None
    assert sqlite_path("postgresql://u:p@h/db") is None
    store = open_store("sqlite://")
    assert isinstance(open_sync_state("sqlite://", store), StoreSyncState)
