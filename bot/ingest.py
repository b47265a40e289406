"""Store raw mail first, then parse what is new: the path every source takes.

Raw bytes are committed before parsing starts, so a crash or a kill while
parsing loses nothing: the next run parses whatever is still unparsed.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from bot.model import Mail, RawMail
from bot.parse import parse_mail
from bot.settings import LimitSettings
from bot.store import Store, message_id_of, now

BATCH = 400
# Below this many messages a process pool costs more than it saves.
POOL_THRESHOLD = 800
SMALL_BATCH = 50  # parsed in this process even with a pool
MAX_WORKERS = 4
IN_FLIGHT = 2  # batches parsing while the next is read and stored: bounds memory


@dataclass
class IngestReport:
    read: int = 0
    new: int = 0
    duplicates: int = 0
    parsed: int = 0
    flagged: int = 0

    def line(self) -> str:
        return (f"{self.read} read, {self.new} new, {self.duplicates} already stored, "
                f"{self.parsed} parsed, {self.flagged} flagged")


def ingest(store: Store, mails: Iterable[RawMail], limits: LimitSettings, *,
           expected: int | None = None, on_progress: Callable[[int], None] | None = None) -> IngestReport:
    """Store and parse every message from `mails`; returns the counts.

    `on_progress` is called once the messages taken so far are stored (raw).
    Parsing runs in worker processes while the next batch is read and stored,
    and each message is parsed once.
    """
    report = IngestReport()
    pooled = expected is None or expected >= POOL_THRESHOLD
    with _Parsers(limits, pooled) as parsers:
        for batch in _batches(mails, BATCH):
            stored = store.add_raw(batch)
            report.read += len(batch)
            report.new += sum(1 for s in stored if s.new)
            report.duplicates += len(batch) - sum(1 for s in stored if s.new)
            parsers.submit([(s.pk, s.message_id, s.raw) for s in stored if s.new])
            if on_progress:
                on_progress(sum(len(m.raw) for m in batch))
            _save(store, parsers.done(), report)
        _save(store, parsers.drain(), report)
        # Anything a killed earlier run stored but never parsed (this run's are all saved by now).
        leftover = store.unparsed()
        for start in range(0, len(leftover), BATCH):
            pks = leftover[start : start + BATCH]
            parsers.submit([(pk, message_id_of(raw), raw) for pk, raw in store.raw_of(pks)])
            _save(store, parsers.done(), report)
        _save(store, parsers.drain(), report)
    return report


def _batches(mails: Iterable[RawMail], size: int) -> Iterator[list[RawMail]]:
    iterator = iter(mails)
    while batch := list(islice(iterator, size)):
        yield batch


def _save(store: Store, results: Iterable[list[tuple[int, Mail]]], report: IngestReport) -> None:
    for parsed in results:
        store.save_parsed(parsed)
        report.parsed += sum(1 for _, mail in parsed if not mail.flags)
        report.flagged += sum(1 for _, mail in parsed if mail.flags)


Job = tuple[int, str, bytes]


class _Parsers:
    """Parses batches in worker processes, a bounded number in flight, results in order.

    Without a pool (small imports) a batch is parsed at once, in this process.
    """

    def __init__(self, limits: LimitSettings, pooled: bool) -> None:
        self.limits = limits
        workers = min(MAX_WORKERS, os.cpu_count() or 1) if pooled else 1
        self.pool: Executor | None = ProcessPoolExecutor(workers) if workers > 1 else None
        self.workers = workers
        self.pending: deque[list[Future[list[tuple[int, Mail]]]]] = deque()

    def __enter__(self) -> _Parsers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def submit(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        stamp = now()
        if self.pool is None or len(jobs) <= SMALL_BATCH:
            parsed: Future[list[tuple[int, Mail]]] = Future()
            parsed.set_result(parse_batch(jobs, self.limits, stamp))
            self.pending.append([parsed])
            return
        size = -(-len(jobs) // self.workers)
        self.pending.append([self.pool.submit(parse_batch, jobs[i : i + size], self.limits, stamp)
                             for i in range(0, len(jobs), size)])

    def done(self) -> Iterator[list[tuple[int, Mail]]]:
        """Parsed batches that are ready, in order; waits only while too many are in flight."""
        while self.pending and (len(self.pending) > IN_FLIGHT or all(f.done() for f in self.pending[0])):
            yield [r for future in self.pending.popleft() for r in future.result()]

    def drain(self) -> Iterator[list[tuple[int, Mail]]]:
        while self.pending:
            yield [r for future in self.pending.popleft() for r in future.result()]


def parse_batch(jobs: list[Job], limits: LimitSettings, stamp: datetime) -> list[tuple[int, Mail]]:
    """Parse a batch (runs in a worker process when the import is large)."""
    return [(pk, parse_mail(raw, mid, stamp, limits)) for pk, mid, raw in jobs]
