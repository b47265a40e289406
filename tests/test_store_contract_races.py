"""Check-then-write in the store is atomic, on both backends: a reject cannot slip in between.

`send` reads that a draft is approved, then writes its delivery rows, then marks
each row `sending` just before the mail's DATA. A CLI reject (another process,
another connection) that commits between the read and a write must not leave a
rejected digest delivered.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bot.delivery import send
from bot.errors import ReviewError
from bot.review import lifecycle
from bot.review.view import drafts_data
from bot.settings import Settings, with_store
from bot.store.database import Store, open_store
from tests.helpers.reviewkit import CHAIR, LIST, make_digest, settings_for
from tests.helpers.smtp_server import SmtpServer
from tests.test_store_contract import store, store_url  # noqa: F401 (the backend fixtures)


def _approved(store: Store, settings: Settings) -> int:  # noqa: F811
    info = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, info.id, CHAIR, "cli")
    return info.id


def test_a_reject_between_the_check_and_the_rows_never_leaves_a_rejected_digest_delivered(
        store: Store, store_url: str, tmp_path: Path, smtp_server: SmtpServer, review_secret: str,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = with_store(settings_for(tmp_path, smtp_server), store_url)
    digest_id = _approved(store, settings)
    outcome: list[str] = []

    def reject_from_another_process() -> None:
        other = open_store(store_url)  # its own engine and connections, as `digestbot reject` has
        try:
            lifecycle.reject(other, digest_id, CHAIR, "cli", "wrong week")
            outcome.append("rejected")
        except ReviewError as exc:
            outcome.append(f"refused: {exc}")
        finally:
            other.close()

    recipients = send._recipients
    rejecter = threading.Thread(target=reject_from_another_process)

    def recipients_after_a_reject(*args: object) -> list[str]:
        # Called inside _ensure_rows's transaction, after its "approved?" read and before the rows are written.
        rejecter.start()
        rejecter.join(timeout=1.0)  # SQLite: blocked by the transaction's write lock; PostgreSQL: done
        return recipients(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(send, "_recipients", recipients_after_a_reject)
    report = send.send_approved(store, settings)
    rejecter.join(timeout=20)
    assert rejecter.ident is not None and not rejecter.is_alive()

    [row] = drafts_data(store)
    delivered = [got.rcpt_tos for got in smtp_server.received]
    if outcome == ["rejected"]:  # it committed first: nothing may go out
        assert row["state"] == "rejected" and delivered == [] and "skipped" in report.lines()[0]
        assert row["deliveries"] == []
    else:  # it waited for the rows, and then found the digest being delivered
        assert outcome == [f"refused: draft #{digest_id} is already being delivered; it can no longer change"]
        assert row["state"] == "sent" and delivered == [(LIST,)]


def test_rows_are_written_and_marked_sending_only_while_approved_at_their_revision(
        store: Store, store_url: str, tmp_path: Path) -> None:  # noqa: F811
    settings = with_store(settings_for(tmp_path, None), store_url)
    info = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    stamp = lifecycle.get(store, info.id).updated_at
    assert not store.deliveries.add_pending(info.id, 1, [LIST], stamp)  # drafted, not approved
    lifecycle.approve(store, info.id, CHAIR, "cli")
    assert not store.deliveries.add_pending(info.id, 2, [LIST], stamp)  # approved, but another revision
    assert store.deliveries.of_digest(info.id) == []
    assert store.deliveries.add_pending(info.id, 1, [LIST], stamp)
    # A reject that won the race after the rows were written (PostgreSQL lets it): the row is not sent.
    draft = lifecycle.get(store, info.id)
    assert store.drafts.change_state(draft, "rejected", CHAIR, "cli", stamp, "wrong week")
    assert not store.deliveries.mark_sending(info.id, LIST, stamp)
    assert [d.state for d in store.deliveries.of_digest(info.id)] == ["pending"]


def test_on_sqlite_a_store_transaction_holds_the_write_lock_from_its_start_and_a_read_does_not(
        tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = open_store(f"sqlite:///{path}")  # noqa: F811
    settings = with_store(settings_for(tmp_path, None), f"sqlite:///{path}")
    digest_id = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli").id
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)  # another process's writer

    def another_writer_can_begin() -> bool:
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return False
        other.execute("ROLLBACK")
        return True

    with store.transaction() as tx:
        tx.drafts.get(digest_id)  # only a read so far: SQLite's default would take no lock yet
        assert not another_writer_can_begin()
    with store.engine.connect() as conn:  # a read: no write lock
        conn.exec_driver_sql("SELECT count(*) FROM digests").scalar()
        assert another_writer_can_begin()
        assert store.drafts.get(digest_id) is not None and another_writer_can_begin()
    assert another_writer_can_begin()
    other.close()
    store.close()


def test_two_instances_storing_the_same_new_message_at_once_keep_one_copy(
        store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Two pollers (instances sharing a store) fetch the same new mail: one stores it, the other finds it."""
    from bot.store.identity import place
    from tests.test_store_contract import raw

    found: list[list[tuple[str, bool]]] = []

    def add_from_another_instance() -> None:
        other = open_store(store_url)  # its own engine and connections, as another instance has
        try:
            found.append([(s.message_id, s.new) for s in other.add_raw([raw(7)])])
        finally:
            other.close()

    other = threading.Thread(target=add_from_another_instance)

    def place_after_another_stores(*args: object) -> object:
        # Called inside add_raw's transaction, after its lookup found nothing and before its insert.
        if not other.is_alive() and other.ident is None:
            other.start()
            other.join(timeout=1.0)  # blocked by the transaction's lock on either backend, or done
        return place(*args)  # type: ignore[arg-type]

    monkeypatch.setattr("bot.store.database.place", place_after_another_stores)
    mine = [(s.message_id, s.new) for s in store.add_raw([raw(7)])]
    other.join(timeout=20)
    assert other.ident is not None and not other.is_alive()

    assert sorted([mine, *found]) == [[("<7@test.example>", False)], [("<7@test.example>", True)]]
    assert store.counts()["messages"] == 1


def test_two_instances_first_polling_one_folder_at_once_both_record_it(
        store: Store, store_url: str) -> None:  # noqa: F811
    """The second poller's write waits for the first one's, then records its own: no duplicate-key failure."""
    import sqlalchemy as sa

    from bot.store.syncstate import StoreSyncState
    from bot.store.tables import sync_state

    errors: list[BaseException] = []

    def poll_from_another_instance() -> None:
        other = open_store(store_url)
        try:
            StoreSyncState(other).polled("Lists/dev", 7, 42)
        except Exception as exc:  # noqa: BLE001 (any failure is the test's to report)
            errors.append(exc)
        finally:
            other.close()

    other = threading.Thread(target=poll_from_another_instance)
    with store.engine.begin() as conn:  # the first poller's row, written and not yet committed
        conn.execute(sa.insert(sync_state).values(folder="Lists/dev", uidvalidity=7, last_uid=40))
        other.start()
        other.join(timeout=1.0)  # waits for this transaction (PostgreSQL: the key; SQLite: the write lock)
    other.join(timeout=20)
    assert not other.is_alive() and errors == []
    row = StoreSyncState(store).get("Lists/dev")
    assert row is not None and (row.uidvalidity, row.last_uid) == (7, 42)
