"""Store raw mail first, then parse what is new: the path every source takes.

Raw bytes are committed before parsing starts, so a crash or a kill while
parsing loses nothing: the next run parses whatever is still unparsed.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from bot.model import Mail, RawMail
from bot.settings import LimitSettings
from bot.store import attach_writer
from bot.store.identity import message_id_of
from bot.store.rows import now
from bot.store.sqlite_writer import RawStore

BATCH = 400
# With a pool, the first batches are short: the workers start while the main process reads on and do not
# wait long while it stores the next batch (a small import is all short batches, and its workers finish
# together). Then BATCH: fewer, larger transactions for the main process, which a large import waits on.
POOLED_BATCH = 100
RAMP = 8  # short batches before BATCH
# Below this many messages a process pool costs more than it saves.
POOL_THRESHOLD = 800
MAX_WORKERS = 4
IN_FLIGHT = 800  # messages parsing while the next batch is read and stored: bounds memory


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


def ingest(store: RawStore, mails: Iterable[RawMail], limits: LimitSettings, *,
           expected: int | None = None, on_progress: Callable[[int], None] | None = None,
           lists: Sequence[str] | None = None) -> IngestReport:
    """Store and parse every message from `mails`, each in `lists` (None: the store's list); returns the counts.

    `on_progress` is called once the messages taken so far are stored (raw).
    Parsing runs in worker processes while the next batch is read and stored,
    and each message is parsed once.
    """
    report = IngestReport()
    pooled = expected is None or expected >= POOL_THRESHOLD
    with _Parsers(limits, pooled, store.shared_url) as parsers:
        for batch in _batches(mails, RAMP if parsers.pool is not None else 0):
            stored = store.add_raw(batch) if lists is None else store.add_raw(batch, lists)
            report.read += len(batch)
            report.new += sum(1 for s in stored if s.new)
            report.duplicates += len(batch) - sum(1 for s in stored if s.new)
            parsers.submit([(s.pk, s.message_id, s.raw) for s in stored if s.new])
            if on_progress:
                on_progress(sum(len(m.raw) for m in batch))
            _save(store, parsers.done(), report)
        if parsers.pending:
            store.checkpoint()  # the raw mail, while the last batches parse
        _save(store, parsers.drain(), report)
        # Anything a killed earlier run stored but never parsed (this run's are all saved by now).
        leftover = store.unparsed()
        for start in range(0, len(leftover), BATCH):
            pks = leftover[start : start + BATCH]
            parsers.submit([(pk, message_id_of(raw), raw) for pk, raw in store.raw_of(pks)])
            _save(store, parsers.done(), report)
        _save(store, parsers.drain(), report)
    return report


def _batches(mails: Iterable[RawMail], short: int) -> Iterator[list[RawMail]]:
    """`short` batches of POOLED_BATCH messages, then batches of BATCH."""
    iterator = iter(mails)
    for _ in range(short):
        if not (batch := list(islice(iterator, POOLED_BATCH))):
            return
        yield batch
    while batch := list(islice(iterator, BATCH)):
        yield batch


def _save(store: RawStore, batches: Iterable[_Parsed], report: IngestReport) -> None:
    for batch in batches:
        if batch.results:  # parsed in this process, or by a worker without access to the store
            store.save_parsed(batch.results)
        report.parsed += batch.parsed
        report.flagged += batch.flagged


Job = tuple[int, str, bytes]


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A parsed batch: its counts, and its results unless a worker saved them already."""

    parsed: int
    flagged: int
    results: list[tuple[int, Mail]]


class _Parsers:
    """Parses batches in worker processes, a bounded number in flight, results in order.

    Workers save what they parse themselves when they can open the store (not
    an in-memory one), so the main process only reads and stores raw mail.
    Without a pool (small imports) a batch is parsed at once, in this process.
    """

    def __init__(self, limits: LimitSettings, pooled: bool, store_url: str | None) -> None:
        self.limits = limits
        workers = min(MAX_WORKERS, os.cpu_count() or 1) if pooled else 1
        self.pool: Executor | None = None
        if workers > 1:
            # Forked, whatever the platform's default: workers share the loaded code, and the parent pid
            # they watch is this process's (a forkserver would be their parent instead).
            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                            initializer=_attach_worker, initargs=(store_url, os.getpid()))
            self.pool.submit(int)  # the first submit forks every worker: now, while the first batch is read
        self.workers = workers
        self.pending: deque[tuple[int, list[Future[_Parsed]]]] = deque()  # messages, and their batch's parts
        self.in_flight = 0  # messages in `pending`

    def __enter__(self) -> _Parsers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def submit(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        stamp = now()
        # With a pool, even a few messages go to it: the main process would load the parser for them.
        if self.pool is None:
            parsed: Future[_Parsed] = Future()
            parsed.set_result(_counted(parse_batch(jobs, self.limits, stamp), keep=True))
            self._add(len(jobs), [parsed])
            return
        size = -(-len(jobs) // self.workers)
        self._add(len(jobs), [self.pool.submit(_parse_in_worker, jobs[i : i + size], self.limits, stamp)
                              for i in range(0, len(jobs), size)])

    def _add(self, count: int, parts: list[Future[_Parsed]]) -> None:
        self.pending.append((count, parts))
        self.in_flight += count

    def _next(self) -> Iterator[_Parsed]:
        count, parts = self.pending.popleft()
        self.in_flight -= count
        return (future.result() for future in parts)

    def done(self) -> Iterator[_Parsed]:
        """Parsed batches that are ready, in order; waits only while too many messages are in flight."""
        while self.pending and (self.in_flight > IN_FLIGHT or all(f.done() for f in self.pending[0][1])):
            yield from self._next()

    def drain(self) -> Iterator[_Parsed]:
        while self.pending:
            yield from self._next()


_worker_store: RawStore | None = None  # a parse worker's own connection to the store


def _attach_worker(url: str | None, parent: int) -> None:
    global _worker_store
    # Forked by this (main) thread, so PR_SET_PDEATHSIG fires when the process dies, not a pool thread.
    from bot.lifeline import die_with_parent  # ctypes: loaded by the workers, while the main process reads

    die_with_parent(parent)
    import bot.mail.parse  # noqa: F401 - loaded here, at the fork, while the main process reads the first batch

    _worker_store = attach_writer(url) if url else None


def _parse_in_worker(jobs: list[Job], limits: LimitSettings, stamp: datetime) -> _Parsed:
    results = parse_batch(jobs, limits, stamp)
    if _worker_store is None:
        return _counted(results, keep=True)
    _worker_store.save_parsed(results)
    return _counted(results, keep=False)


def _counted(results: list[tuple[int, Mail]], *, keep: bool) -> _Parsed:
    flagged = sum(1 for _, mail in results if mail.flags)
    return _Parsed(len(results) - flagged, flagged, results if keep else [])


def parse_batch(jobs: list[Job], limits: LimitSettings, stamp: datetime) -> list[tuple[int, Mail]]:
    """Parse a batch (runs in a worker process when the import is large)."""
    from bot.mail.parse import parse_mail  # a pooled import's main process never needs the parser

    return [(pk, parse_mail(raw, mid, stamp, limits)) for pk, mid, raw in jobs]
