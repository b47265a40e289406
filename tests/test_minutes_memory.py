"""What minutes remember, through the real pipeline and lifecycle on a real SQLite store (no servers):
history is not late, a done action is reported in one digest, a redraft's DONE: line is no false
alarm, and two drafts built at once cannot both take a message.

The same behaviour through the servers and the CLI: tests/test_minutes_memory_e2e.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import ReviewError
from bot.mail.ingest import ingest
from bot.model import Digest, RawMail
from bot.pipeline.digest import build_digest
from bot.review import lifecycle
from bot.review.memory import close_action
from bot.settings import LimitSettings, Settings, with_store
from bot.store.database import Store, open_store
from tests.helpers.mailfactory import make_raw

W0 = datetime(2014, 8, 18, tzinfo=UTC)  # a Monday
WEEK = timedelta(days=7)
DAVE = "Dave Scott <dave@example.org>"


@pytest.fixture()
def env(tmp_path: Path) -> tuple[Settings, Store]:
    settings = with_store(Settings(), f"sqlite:///{tmp_path / 'store.sqlite3'}")
    return settings, open_store(settings.store_url)


def arrive(store: Store, *raws: bytes) -> None:
    ingest(store, [RawMail(raw, "test") for raw in raws], LimitSettings(), expected=len(raws))


def week(settings: Settings, store: Store, k: int) -> Digest:
    return build_digest(store, settings, W0 + k * WEEK, W0 + (k + 1) * WEEK)


def store_and_send(settings: Settings, store: Store, digest: Digest) -> int:
    info = lifecycle.store_draft(store, settings, digest, "test", "cli")
    send(store, info.id)
    return info.id


def send(store: Store, digest_id: int) -> None:
    lifecycle.approve(store, digest_id, "test", "cli")
    lifecycle.transition(store, digest_id, "sent", "test", "cli")


def test_an_archive_imported_after_the_first_digest_is_history_not_late(env: tuple[Settings, Store]) -> None:
    settings, store = env
    arrive(store, make_raw(1, when=W0 + timedelta(hours=5)))
    store_and_send(settings, store, week(settings, store, 0))
    old = [make_raw(100 + n, subject=f"Old {n}", when=W0 - timedelta(days=300 + n)) for n in range(50)]
    late = make_raw(2, subject="Re: Test", when=W0 + timedelta(days=6, hours=23), reply_to=1)
    arrive(store, *old, late)
    arrive(store, make_raw(3, subject="New", when=W0 + WEEK + timedelta(hours=5)))
    digest = week(settings, store, 1)
    assert digest.coverage is not None
    assert digest.coverage.in_period == ("<3@test.example>",)
    assert digest.coverage.late == ("<2@test.example>",)  # the real late reply, not the archive


def test_a_rejected_first_week_rolls_into_the_next_digest(env: tuple[Settings, Store]) -> None:
    settings, store = env
    arrive(store, make_raw(1, when=W0 + timedelta(hours=5)), make_raw(9, when=W0 - timedelta(days=3)))
    first = lifecycle.store_draft(store, settings, week(settings, store, 0), "test", "cli")
    lifecycle.reject(store, first.id, "test", "cli", "not this week")
    arrive(store, make_raw(2, subject="Other", when=W0 + WEEK + timedelta(hours=5)))
    digest = week(settings, store, 1)
    assert digest.coverage is not None and digest.coverage.late == ("<1@test.example>",)  # 9 is history


def test_a_closed_action_is_reported_done_in_one_sent_digest(env: tuple[Settings, Store]) -> None:
    settings, store = env
    arrive(store, make_raw(1, when=W0 + timedelta(hours=5)))
    d1 = store_and_send(settings, store, week(settings, store, 0))
    action = store.actions.propose(d1, "Dave Scott", "add vchan support", "<1@test.example>", W0)
    close_action(store, action, by="chair", via="cli", at=W0 + WEEK)
    arrive(store, make_raw(2, when=W0 + WEEK + timedelta(hours=5)))
    two = week(settings, store, 1)
    d2 = lifecycle.store_draft(store, settings, two, "test", "cli").id
    arrive(store, make_raw(3, subject="x", when=W0 + 2 * WEEK + timedelta(hours=5)))
    three = week(settings, store, 2)  # drafted while week 2 awaits the chair
    d3 = lifecycle.store_draft(store, settings, three, "test", "cli").id
    send(store, d2)
    lifecycle.reject(store, d3, "test", "cli", "no")
    four = week(settings, store, 3)
    assert [[n.id for n in d.closed_actions] for d in (two, three, four)] == [[action], [], []]
    # Only the digest that reports it lists it again: a draft of week 2 itself (refused, as week 2 is sent).
    assert [n.id for n in week(settings, store, 1).closed_actions] == [action]


def test_a_redraft_applies_its_own_done_line_again_without_a_warning(env: tuple[Settings, Store]) -> None:
    settings, store = env
    arrive(store, make_raw(1, when=W0 + timedelta(hours=5), body="Hello, planning the release.\n"))
    d1 = store_and_send(settings, store, week(settings, store, 0))
    action = store.actions.propose(d1, "Dave Scott", "add vchan support", "<1@test.example>", W0)
    arrive(store, make_raw(2, sender=DAVE, when=W0 + WEEK + timedelta(hours=5),
                           body="Pushed to master.\n\nDONE: add vchan support\n"))
    first = week(settings, store, 1)
    assert [c.action_id for c in first.closings] == [action] and first.refused == ()
    lifecycle.store_draft(store, settings, first, "test", "cli")
    again = week(settings, store, 1)
    assert again.refused == () and [n.id for n in again.closed_actions] == [action]
    lifecycle.store_draft(store, settings, again, "test", "cli")  # supersedes the first
    assert store.actions.get(action).state == "done"  # type: ignore[union-attr]


def test_two_drafts_built_at_once_cannot_both_take_a_message(env: tuple[Settings, Store]) -> None:
    settings, store = env
    arrive(store, make_raw(1, when=W0 + timedelta(days=4)), make_raw(2, subject="B", when=W0 + timedelta(days=5)))
    this_week = week(settings, store, 0)
    overlapping = build_digest(store, settings, W0 + timedelta(days=3), W0 + timedelta(days=10))
    kept = lifecycle.store_draft(store, settings, this_week, "test", "cli")
    with pytest.raises(ReviewError, match=r"already in another period's digest: <1@test.example> \(#1\)"):
        lifecycle.store_draft(store, settings, overlapping, "test", "cli")
    assert [d.id for d in lifecycle.drafts(store)] == [kept.id]  # nothing of the second stored
    assert sorted(t.message_id for t in store.coverage.of_digest(kept.id)) == ["<1@test.example>",
                                                                               "<2@test.example>"]
