"""A deterministic generator of realistic list traffic, streamed to an mbox.

    generate(path, messages=3115, seed=1)   # about a year of a busy list

Threads start week by week (a seasonal rate with the odd burst week) and
each is built whole from its own seed; their messages wait in a heap and are
written in date order once no later-starting thread can precede them. Memory
is bounded by the threads still active, never by the size of the archive:
100,000 messages stream through a few hundred at a time.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from bot.tools.bench.mail import Envelope, escape_from, mbox_from_line
from bot.tools.bench.threads import KIND_WEIGHTS, KINDS, ThreadPlan, build_thread, make_people, thread_size

VERSION = 3  # bump when the output for a given seed changes (invalidates caches); 3: longer replies
END = datetime(2024, 6, 30, tzinfo=UTC)
MEAN_THREAD = 10.6  # mean of thread_size(), for the weekly thread rate
BYTES_PER_MESSAGE = 7000  # rough, to turn a byte budget into a timeline


@dataclass
class TrafficStats:
    messages: int = 0
    bytes: int = 0
    threads: int = 0
    weeks: Counter[date] = field(default_factory=Counter)  # Monday (UTC) -> messages
    months: Counter[tuple[int, int]] = field(default_factory=Counter)

    def add(self, when: datetime, size: int) -> None:
        self.messages += 1
        self.bytes += size
        day = when.astimezone(UTC).date()
        self.weeks[day - timedelta(days=day.weekday())] += 1
        self.months[(day.year, day.month)] += 1

    def busiest_week(self) -> tuple[datetime, datetime]:
        monday = max(self.weeks, key=lambda d: (self.weeks[d], d))
        start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        return start, start + timedelta(days=7)

    def busiest_month(self) -> tuple[datetime, datetime]:
        year, month = max(self.months, key=lambda m: (self.months[m], m))
        start = datetime(year, month, 1, tzinfo=UTC)
        return start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def generate(path: Path, *, messages: int | None = None, max_bytes: int | None = None, seed: int = 1) -> TrafficStats:
    """Write an mbox of `messages` messages (or about `max_bytes` bytes) to `path`."""
    if messages is None and max_bytes is None:
        raise ValueError("give messages or max_bytes")
    limit = messages if messages is not None else math.inf
    budget = max_bytes if max_bytes is not None else math.inf
    estimate = messages if messages is not None else int(budget // BYTES_PER_MESSAGE) + 1
    stats = TrafficStats()
    with path.open("wb") as handle:
        for env, raw in _messages(seed, estimate):
            if stats.messages >= limit or stats.bytes >= budget:
                break
            _write(handle, env, raw)
            stats.add(env.date, len(raw))
    return stats


def _write(handle: BinaryIO, env: Envelope, raw: bytes) -> None:
    handle.write(mbox_from_line(env))
    handle.write(escape_from(raw))
    handle.write(b"\n" if raw.endswith(b"\n") else b"\n\n")


def _messages(seed: int, estimate: int) -> Iterator[tuple[Envelope, bytes]]:
    """Every message of the archive, in date order (an endless generator)."""
    rng = random.Random(seed)
    people = make_people(rng, 400)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(people))]
    per_week = max(60, math.ceil(estimate / 1800))
    weeks = math.ceil(estimate / per_week * 1.05) + 1
    week_start = END - timedelta(weeks=weeks)
    week_start -= timedelta(days=week_start.weekday(), hours=week_start.hour, minutes=week_start.minute)
    pending: list[tuple[datetime, int, Envelope, bytes]] = []
    serial = 0
    index = 0
    for week in range(1 << 30):
        while pending and pending[0][0] < week_start:
            _, _, env, raw = heapq.heappop(pending)
            yield env, raw
        for plan in _week_plans(rng, week, week_start, per_week, index):
            index += 1
            for env, raw in build_thread(plan, people, weights):
                serial += 1
                heapq.heappush(pending, (env.date, serial, env, raw))
        week_start += timedelta(weeks=1)


def _week_plans(rng: random.Random, week: int, start: datetime, per_week: int, first: int) -> list[ThreadPlan]:
    rate = 1 + 0.2 * math.sin(2 * math.pi * week / 52)
    if rng.random() < 0.03:
        rate *= 2.5  # a release, a flame war, a security fix
    expected = per_week * rate / MEAN_THREAD
    count = max(0, round(rng.gauss(expected, math.sqrt(expected))))
    plans = []
    for i in range(count):
        day = rng.choices(range(7), (1, 1, 1, 1, 1, 0.35, 0.35))[0]
        hour = min(23.9, max(0.0, rng.gauss(14, 4)))
        when = start + timedelta(days=day, hours=hour, seconds=rng.randint(0, 3599))
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
        size = thread_size(rng) if kind != "announce" else rng.randint(1, 6)
        plans.append(ThreadPlan(first + i, kind, size, when, rng.getrandbits(64)))
    return plans


def thread_mails(size: int, *, seed: int = 7, kind: str = "discussion") -> list[bytes]:
    """One thread of `size` messages, as raw bytes (for the summarizer benchmark)."""
    rng = random.Random(seed)
    people = make_people(rng, 60)
    weights = [1 / (rank + 1) for rank in range(len(people))]
    plan = ThreadPlan(0, kind, size, END - timedelta(days=30), rng.getrandbits(64))
    return [raw for _, raw in build_thread(plan, people, weights)]
