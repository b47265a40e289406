"""Store raw mail first, then parse what is new: the path every source takes.

Raw bytes are committed before parsing starts, so a crash or a kill while
parsing loses nothing: the next run parses whatever is still unparsed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
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
    """Store and parse every message from `mails`; returns the counts."""
    report = IngestReport()
    pool: Executor | None = None
    if expected is None or expected >= POOL_THRESHOLD:
        workers = min(4, os.cpu_count() or 1)
        pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        for batch in _batches(mails, BATCH):
            stored = store.add_raw(batch)
            report.read += len(batch)
            report.new += sum(1 for s in stored if s.new)
            report.duplicates += len(batch) - sum(1 for s in stored if s.new)
            jobs = [(s.pk, s.message_id, s.raw) for s in stored if s.new]
            _parse_and_save(store, jobs, limits, report, pool)
            if on_progress:
                on_progress(sum(len(m.raw) for m in batch))
        # Anything a killed earlier run stored but never parsed.
        leftover = store.unparsed()
        for start in range(0, len(leftover), BATCH):
            pks = leftover[start : start + BATCH]
            jobs = [(pk, message_id_of(raw), raw) for pk, raw in store.raw_of(pks)]
            _parse_and_save(store, jobs, limits, report, pool)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return report


def _batches(mails: Iterable[RawMail], size: int) -> Iterator[list[RawMail]]:
    iterator = iter(mails)
    while batch := list(islice(iterator, size)):
        yield batch


def _parse_and_save(store: Store, jobs: list[tuple[int, str, bytes]], limits: LimitSettings,
                    report: IngestReport, pool: Executor | None) -> None:
    if not jobs:
        return
    stamp = now()
    if pool is not None and len(jobs) > 50:
        half = (len(jobs) + 1) // 2
        chunks = [jobs[:half], jobs[half:]]
        results = [r for chunk in pool.map(parse_batch, chunks, [limits] * 2, [stamp] * 2) for r in chunk]
    else:
        results = parse_batch(jobs, limits, stamp)
    store.save_parsed(results)
    report.parsed += sum(1 for _, mail in results if not mail.flags)
    report.flagged += sum(1 for _, mail in results if mail.flags)


def parse_batch(jobs: list[tuple[int, str, bytes]], limits: LimitSettings, stamp: datetime) -> list[tuple[int, Mail]]:
    """Parse a batch (runs in a worker process when the import is large)."""
    return [(pk, parse_mail(raw, mid, stamp, limits)) for pk, mid, raw in jobs]
