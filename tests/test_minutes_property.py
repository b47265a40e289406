"""A property of minutes that remember: over any arrival order and any draft times, every message dated
from the first week the bot drafted or skipped on is in exactly one sent digest, late ones included;
a week skipped by digest.min_messages rolls into the next digest; history (mail dated before that
week, such as an archive imported at any time) is in none.

The oracle is the example's own schedule (which weeks were drafted or skipped, and when each message is
dated), not the store's queries.

Each example is a real SQLite store, the real pipeline (build_digest) and the real
lifecycle (store_draft, approve, reject, send's final transition); only the clock is
the example's: messages arrive (are imported) and weeks are drafted at its times.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.mail.ingest import ingest
from bot.model import RawMail
from bot.pipeline.digest import build_digest
from bot.review import lifecycle
from bot.settings import LimitSettings, Settings, with_store
from bot.store.database import Store, open_store
from tests.helpers.mailfactory import make_raw

W0 = datetime(2014, 8, 18, tzinfo=UTC)  # a Monday
WEEK = timedelta(days=7)
WEEKS = 4

# One message: (hours after W0 it is dated, hours after that it arrives, the message it answers).
# Some are an old archive's, dated about a year earlier and imported at any time.
message = st.tuples(st.one_of(st.integers(-72, WEEKS * 168 - 1), st.integers(-24 * 400, -24 * 300)),
                    st.one_of(st.integers(0, 240), st.integers(24 * 300, 24 * 400 + WEEKS * 168)),
                    st.integers(0, 30))
# One week's draft: hours after the week's end it is drafted, and what happens to it: sent, rejected,
# held (awaiting the chair while later weeks are drafted), skipped by the scheduler (digest.min_messages),
# or nothing at all (the bot was not running).
week = st.tuples(st.integers(1, 120), st.sampled_from(["send", "send", "reject", "hold", "skip", "absent"]))


class Clock:
    def __init__(self) -> None:
        self.now = W0

    def __call__(self) -> datetime:
        return self.now


def _draft(store: Store, config: Settings, start: datetime, outcome: str, held: list[int]) -> None:
    digest = build_digest(store, config, start, start + WEEK)
    info = lifecycle.store_draft(store, config, digest, "test", "cli")
    if outcome == "reject":
        lifecycle.reject(store, info.id, "test", "cli", "no")
    elif outcome == "hold":  # awaiting the chair while later weeks are drafted; sent at the end
        lifecycle.transition(store, info.id, "awaiting", "test", "cli")
        held.append(info.id)
    else:
        _send(store, info.id)


def _send(store: Store, digest_id: int) -> None:
    lifecycle.approve(store, digest_id, "test", "cli")
    lifecycle.transition(store, digest_id, "sent", "test", "cli")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(message, min_size=1, max_size=24), weeks=st.lists(week, min_size=WEEKS, max_size=WEEKS))
def test_every_arrived_message_is_in_exactly_one_sent_digest(messages: list[tuple[int, int, int]],
                                                             weeks: list[tuple[int, str]]) -> None:
    clock = Clock()
    events: list[tuple[datetime, int, object]] = []
    for n, (dated, delay, parent) in enumerate(messages, start=1):
        when = W0 + timedelta(hours=dated)
        reply_to = parent if 0 < parent < n else None  # some answer an earlier message: threads cross weeks
        raw = make_raw(n, subject=f"Topic {reply_to or n}", when=when, reply_to=reply_to,
                       body=f"Message {n}, on topic {reply_to or n}.\n")
        events.append((when + timedelta(hours=delay, minutes=1), 0, raw))
    for k, (after, outcome) in enumerate(weeks):
        events.append((W0 + (k + 1) * WEEK + timedelta(hours=after), 1, (k, outcome)))
    events.sort(key=lambda e: (e[0], e[1]))
    dates = {f"<{n}@test.example>": W0 + timedelta(hours=h) for n, (h, _delay, _parent) in enumerate(messages, 1)}
    # The minutes begin with the first week drafted or skipped (the last digest's week, if no other).
    begin = min([W0 + k * WEEK for k, (_after, outcome) in enumerate(weeks) if outcome != "absent"]
                + [W0 + (WEEKS + 2) * WEEK])
    with tempfile.TemporaryDirectory() as tmp, mock.patch("bot.store.database.now", clock), \
            mock.patch("bot.review.lifecycle.now", clock):
        config = with_store(Settings(), f"sqlite:///{Path(tmp) / 'store.sqlite3'}")
        store = open_store(config.store_url)
        held: list[int] = []
        try:
            for at, kind, what in events:
                clock.now = at
                if kind == 0:
                    assert isinstance(what, bytes)
                    ingest(store, [RawMail(what, "test")], LimitSettings(), expected=1)
                else:
                    k, outcome = what  # type: ignore[misc]
                    if outcome == "skip":  # what the scheduler's draft job does for a quiet week
                        store.coverage.skip(W0 + k * WEEK)
                    elif outcome != "absent":
                        _draft(store, config, W0 + k * WEEK, outcome, held)
            clock.now = max(e[0] for e in events) + timedelta(hours=1)
            for digest_id in held:
                _send(store, digest_id)
            # A last digest, drafted after everything arrived, for the week after.
            _draft(store, config, W0 + (WEEKS + 2) * WEEK, "send", held)
            _check(store, {mid for mid, when in dates.items() if when >= begin})
        finally:
            store.engine.dispose()


def _check(store: Store, expected: set[str]) -> None:
    counts = Counter(mid for _digest, mid in store.coverage.sent())
    assert all(n == 1 for n in counts.values()), f"in two sent digests: {[m for m, n in counts.items() if n > 1]}"
    assert set(counts) == expected, (f"missing: {sorted(expected - set(counts))}; "
                                     f"history taken: {sorted(set(counts) - expected)}")
