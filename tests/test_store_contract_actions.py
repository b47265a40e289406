"""The store's contract for minutes that remember, on SQLite and a real PostgreSQL.

store.coverage (which digest took which message; late mail; mail another digest
holds) and store.actions (tracked actions), plus the sqlite3 draft reader,
which must answer the same questions as the Store.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store import open_mail_reader
from bot.store.database import Store
from bot.store.minutes import Taken
from tests.test_store_contract import T0, stored_parsed
from tests.test_store_contract import store as store
from tests.test_store_contract import store_url as store_url

WEEK = timedelta(days=7)
W1 = datetime(2014, 8, 18, tzinfo=UTC)  # T0 is in it
W2, W3 = W1 + WEEK, W1 + 2 * WEEK
LONG_AGO = datetime(2014, 1, 1, tzinfo=UTC)  # drafts "drafted" before the messages arrived


def ids(mails: list) -> list[str]:  # type: ignore[type-arg]
    return [m.message_id for m in mails]


def _sent(store: Store, start: datetime, end: datetime, taken: list[Taken], *, stamp: datetime = LONG_AGO) -> int:
    digest_id = store.drafts.add(start, end, stamp)
    store.coverage.record(digest_id, taken, start, end)
    _move(store, digest_id, "sent")
    return digest_id


def _move(store: Store, digest_id: int, state: str) -> None:
    draft = store.drafts.get(digest_id)
    assert draft is not None
    assert store.drafts.change_state(draft, state, "test", "cli", LONG_AGO, "")


def test_coverage_is_recorded_per_digest_and_only_sent_digests_count(store: Store) -> None:
    stored_parsed(store, {1: T0, 2: T0 + timedelta(hours=1), 3: T0 + timedelta(hours=2)})
    sent = _sent(store, W1, W2, [Taken("<1@test.example>"), Taken("<2@test.example>", left_out="duplicate")])
    open_id = store.drafts.add(W2, W3, LONG_AGO)
    store.coverage.record(open_id, [Taken("<3@test.example>", late=True)], W2, W3)
    store.coverage.record(open_id, [], W2, W3)
    assert store.coverage.of_digest(sent) == [Taken("<1@test.example>"),
                                              Taken("<2@test.example>", left_out="duplicate")]
    assert store.coverage.of_digest(open_id) == [Taken("<3@test.example>", late=True)]
    assert store.coverage.sent() == [(sent, "<1@test.example>"), (sent, "<2@test.example>")]


def test_late_mail_is_what_no_digest_holds_since_the_minutes_began(store: Store) -> None:
    # 1 and 2 in week 1, 3 in week 2 (the period drafted); 4 long before the first digest.
    stored_parsed(store, {1: T0, 2: T0 + timedelta(hours=1), 3: W2 + timedelta(hours=5),
                          4: datetime(2014, 8, 1, tzinfo=UTC)})
    assert store.late_mails(W2, W3) == []  # no digest yet: nothing is late
    _sent(store, W1, W2, [Taken("<1@test.example>")])
    # 2 is dated in week 1 and in no digest; 4 is dated before the minutes began (week 1): history.
    assert ids(store.late_mails(W2, W3)) == ["<2@test.example>"]
    assert store.taken_elsewhere(W2, W3) == set()
    other = store.drafts.add(W1 + timedelta(days=3), W3, LONG_AGO)  # an overlapping draft holds 2 and 3
    store.coverage.record(other, [Taken("<2@test.example>"), Taken("<3@test.example>")], W1 + timedelta(days=3), W3)
    assert ids(store.late_mails(W2, W3)) == []
    assert store.taken_elsewhere(W2, W3) == {"<3@test.example>"}
    _move(store, other, "rejected")  # a rejected draft holds nothing
    assert ids(store.late_mails(W2, W3)) == ["<2@test.example>"]
    assert store.taken_elsewhere(W2, W3) == set()


@pytest.mark.parametrize("crowded", [False, True], ids=["by-date", "by-list"])
def test_a_lists_mail_reads_the_same_whichever_side_is_walked(store: Store, store_url: str, crowded: bool,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # Crowded: other lists' mail fills the weeks, so the list's own rows are the cheaper walk (walk_list).
    import bot.store.coverage
    import bot.store.sqlite_reader
    from bot.store.minutes import walk_list

    walks: list[bool] = []

    def spied(list_size: int, range_size: object) -> bool:
        walks.append(walk_list(list_size, range_size))  # type: ignore[arg-type]
        return walks[-1]

    monkeypatch.setattr(bot.store.coverage, "walk_list", spied)
    monkeypatch.setattr(bot.store.sqlite_reader, "walk_list", spied)
    if crowded:
        stored_parsed(store.for_list("crowd"), {100 + n: LONG_AGO + timedelta(days=n) for n in range(400)} |
                      {600 + n: W1 + timedelta(hours=n) for n in range(300)})
    stored_parsed(store, {1: T0, 2: T0 + timedelta(hours=1), 3: W2 + timedelta(hours=5),
                          4: datetime(2014, 8, 1, tzinfo=UTC)})
    _sent(store, W1, W2, [Taken("<1@test.example>")])
    other = store.drafts.add(W1 + timedelta(days=3), W3, LONG_AGO)
    store.coverage.record(other, [Taken("<3@test.example>")], W1 + timedelta(days=3), W3)
    assert ids(store.mails_between(W1, W2)) == ["<1@test.example>", "<2@test.example>"]
    assert ids(store.late_mails(W2, W3)) == ["<2@test.example>"]
    assert store.taken_elsewhere(W2, W3) == {"<3@test.example>"}
    if store_url.startswith("sqlite"):  # the sqlite3 reader of `draft` walks the same way
        reader = open_mail_reader(store_url)
        assert reader is not None
        assert ids(reader.mails_between(W1, W2)) == ["<1@test.example>", "<2@test.example>"]
        assert ids(reader.late_mails(W2, W3)) == ["<2@test.example>"]
        assert reader.taken_elsewhere(W2, W3) == {"<3@test.example>"}
        reader.close()
    assert walks and set(walks) == {crowded}


def test_history_before_the_first_sent_digest_is_not_late(store: Store) -> None:
    stored_parsed(store, {1: T0, 4: datetime(2014, 8, 1, tzinfo=UTC)})
    _sent(store, W1, W2, [Taken("<1@test.example>")], stamp=datetime.now(UTC) + timedelta(days=1))
    assert store.late_mails(W2, W3) == []  # 4 arrived before the first digest was drafted, dated before it


def test_a_redraft_of_the_same_period_takes_its_own_messages_again(store: Store) -> None:
    stored_parsed(store, {3: W2 + timedelta(hours=5)})
    _sent(store, W1, W2, [])
    first = store.drafts.add(W2, W3, LONG_AGO)
    store.coverage.record(first, [Taken("<3@test.example>")], W2, W3)
    assert store.taken_elsewhere(W2, W3) == set()  # its own period's draft does not hide it
    assert store.taken_elsewhere(W2 - WEEK, W3 - WEEK) == set()


def test_actions_are_proposed_carried_closed_and_reported(store: Store) -> None:
    stamp = T0
    a = store.drafts.add(W1, W2, LONG_AGO)
    first = store.actions.propose(a, "Dave Scott", "add vchan support", "<1@test.example>", stamp)
    second = store.actions.propose(a, "Anil", "write the notes", "<2@test.example>", stamp)
    assert store.actions.carried(W2, W3) == []  # a draft's actions are proposals until it is sent
    assert store.actions.all() == [] and len(store.actions.all(sent_only=False)) == 2
    _move(store, a, "superseded")
    redraft = store.drafts.add(W1, W2, LONG_AGO)
    assert store.actions.propose(redraft, "Dave", "add vchan support", "<1@test.example>", stamp) == first
    assert store.actions.propose(redraft, "Anil", "write the notes", "<2@test.example>", stamp) == second
    _move(store, redraft, "sent")
    carried = store.actions.carried(W2, W3)
    assert [(x.id, x.who, x.state, x.digest_id, x.since) for x in carried] == [
        (first, "Dave", "open", redraft, W1), (second, "Anil", "open", redraft, W1)]
    # A sent digest's action keeps its id and digest when a later draft lists it again.
    later = store.drafts.add(W2, W3, LONG_AGO)
    assert store.actions.propose(later, "Dave", "add vchan support", "<1@test.example>", stamp) == first
    assert store.actions.get(first).digest_id == redraft  # type: ignore[union-attr]

    assert store.actions.close(first, by="dave@example.org", via="mail", at=T0, note="DONE: line", ref="<9@x>")
    assert not store.actions.close(first, by="chair", via="cli", at=T0)  # only an open one closes
    assert store.actions.closed_by_ref("<9@x>") == [first]
    closed = store.actions.get(first)
    assert closed is not None and (closed.state, closed.closed_by, closed.closed_via) == ("done", "dave@example.org",
                                                                                        "mail")
    assert closed.closed_at == T0
    assert [(x.id, x.state) for x in store.actions.carried(W2, W3)] == [(first, "done"), (second, "open")]
    assert store.actions.mark_reported([first], later, W2, W3) == [first]
    # `later` holds the report: a redraft of its own week lists it again, another week's draft does not.
    assert [x.id for x in store.actions.carried(W2, W3)] == [first, second]
    assert [x.id for x in store.actions.carried(W3, W3 + WEEK)] == [second]
    assert store.actions.mark_reported([first], later + 1000, W3, W3 + WEEK) == []  # nor does it take it
    _move(store, later, "sent")
    assert [x.id for x in store.actions.carried(W3, W3 + WEEK)] == [second]  # reported done once, then no more
    assert store.actions.get(12345) is None


def test_the_chairs_edit_changes_an_action_of_that_draft_only(store: Store) -> None:
    a = store.drafts.add(W1, W2, LONG_AGO)
    b = store.drafts.add(W2, W3, LONG_AGO)
    action = store.actions.propose(a, "Dave", "add vchan", "<1@test.example>", T0)
    assert not store.actions.edit(action, b, who="Maya", what="x")
    assert store.actions.edit(action, a, who="Dave Scott", what="add vchan support")
    got = store.actions.get(action)
    assert got is not None and (got.who, got.what) == ("Dave Scott", "add vchan support")


def test_the_actions_change_in_one_transaction_or_not_at_all(store: Store) -> None:
    a = store.drafts.add(W1, W2, LONG_AGO)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.actions.propose(a, "Dave", "add vchan", "<1@test.example>", T0)
        tx.coverage.record(a, [Taken("<1@test.example>")], W1, W2)
        raise RuntimeError("boom")
    assert store.actions.all(sent_only=False) == [] and store.coverage.of_digest(a) == []


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # about SQLite files alone
def test_the_sqlite_draft_reader_answers_as_the_store_does(store_url: str, store: Store, tmp_path: Path) -> None:
    stored_parsed(store, {1: T0, 2: T0 + timedelta(hours=1), 3: W2 + timedelta(hours=5)})
    sent = _sent(store, W1, W2, [Taken("<1@test.example>")])
    store.actions.propose(sent, "Dave", "add vchan", "<1@test.example>", T0)
    other = store.drafts.add(W1 + timedelta(days=3), W3, LONG_AGO)
    store.coverage.record(other, [Taken("<3@test.example>")], W1 + timedelta(days=3), W3)
    reader = open_mail_reader(store_url)
    assert reader is not None
    try:
        assert reader.late_mails(W2, W3) == store.late_mails(W2, W3) and ids(reader.late_mails(W2, W3)) == [
            "<2@test.example>"]
        assert reader.taken_elsewhere(W2, W3) == store.taken_elsewhere(W2, W3) == {"<3@test.example>"}
        assert reader.carried_actions(W2, W3) == store.carried_actions(W2, W3)
        assert len(reader.carried_actions(W2, W3)) == 1
    finally:
        reader.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # about SQLite files alone
def test_a_writer_opened_beside_a_store_keeps_its_sqlite_locks(store_url: str, store: Store) -> None:
    """A process with a Store open (the daemon, a draft job) opens the sqlite3 writer to poll: the
    other processes must still see the Store's connection, or the last of them deletes the WAL it uses."""
    from bot.store import sqlite_path
    from bot.store.sqlite import create_private

    stored_parsed(store, {1: T0})  # the Store's pooled connection now holds the WAL open
    path = sqlite_path(store_url)
    assert path is not None
    create_private(path)  # what opening the writer (or the sync state) does
    other = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT count(*) FROM messages'); "
             "c.close()")
    subprocess.run([sys.executable, "-c", other, str(path)], check=True, timeout=60)
    stored_parsed(store, {2: T0 + timedelta(hours=1)})
    fresh = sqlite3.connect(path)
    try:
        assert fresh.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        assert fresh.execute("SELECT count(*) FROM messages").fetchone() == (2,)
    finally:
        fresh.close()


def test_a_skipped_week_starts_the_minutes_before_any_digest(store_url: str, store: Store) -> None:
    stored_parsed(store, {1: T0, 2: W2 + timedelta(hours=5), 4: datetime(2014, 8, 1, tzinfo=UTC)})
    assert store.late_mails(W2, W3) == [] and store.coverage.skipped_from() is None
    store.coverage.skip(W1)  # the scheduler found week 1 too quiet
    store.coverage.skip(W2)  # a later skip keeps the earliest
    assert store.coverage.skipped_from() == W1
    assert store.for_list("other").coverage.skipped_from() is None  # per list
    assert ids(store.late_mails(W2, W3)) == ["<1@test.example>"]  # 4 is history
    reader = open_mail_reader(store_url) if store_url.startswith("sqlite") else None
    if reader is not None:  # the draft's sqlite3 reader reads the skip too
        try:
            assert reader.late_mails(W2, W3) == store.late_mails(W2, W3)
        finally:
            reader.close()


def test_a_draft_stored_after_another_took_its_messages_is_refused(store: Store) -> None:
    from bot.store.coverage import TakenElsewhere

    stored_parsed(store, {1: T0, 2: T0 + timedelta(hours=1)})
    first = store.drafts.add(W1, W2, LONG_AGO)
    store.coverage.record(first, [Taken("<1@test.example>")], W1, W2)
    redraft = store.drafts.add(W1, W2, LONG_AGO)  # the same period may take its own messages again
    store.coverage.record(redraft, [Taken("<1@test.example>")], W1, W2)
    other = store.drafts.add(W1 + timedelta(days=3), W3, LONG_AGO)
    with pytest.raises(TakenElsewhere) as refused:
        store.coverage.record(other, [Taken("<2@test.example>"), Taken("<1@test.example>")], W1 + timedelta(days=3),
                              W3)
    assert set(refused.value.held) == {"<1@test.example>"} and "<1@test.example>" in str(refused.value)
    assert store.coverage.of_digest(other) == []  # nothing of it written


def test_two_drafts_stored_at_once_never_share_a_message(store: Store) -> None:
    """The second waits for the first's transaction (SQLite's write lock, PostgreSQL's table lock), then sees
    what it took."""
    import threading

    from bot.store.coverage import TakenElsewhere

    stored_parsed(store, {1: T0})
    outcome: list[BaseException | None] = []

    def second() -> None:
        try:
            with store.transaction() as tx:
                other = tx.drafts.add(W1 + timedelta(days=3), W3, LONG_AGO)
                tx.coverage.record(other, [Taken("<1@test.example>")], W1 + timedelta(days=3), W3)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome.append(exc)

    with store.transaction() as tx:
        first = tx.drafts.add(W1, W2, LONG_AGO)
        tx.coverage.record(first, [Taken("<1@test.example>")], W1, W2)
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive()  # waiting for this transaction
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], TakenElsewhere)
    assert [mid for _d, mid in store.coverage.sent()] == []
    assert [d.state for d in store.drafts.all()] == ["drafted"]  # the second's draft row rolled back with it


def test_the_walk_is_the_cheaper_side_and_a_huge_list_goes_by_date() -> None:
    from bot.store.minutes import LIST_SIZE_CAP, walk_list

    asked: list[int] = []

    def range_size(found: int) -> Callable[[int], int]:
        def count(cap: int) -> int:
            asked.append(cap)
            return min(found, cap)
        return count

    assert walk_list(5, range_size(1000)) and asked == [6]  # counted only as far as the list could go
    assert not walk_list(5, range_size(5)) and not walk_list(5, range_size(2))
    assert not walk_list(LIST_SIZE_CAP, range_size(10**9))
