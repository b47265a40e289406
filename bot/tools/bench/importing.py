"""Targets 4 and 5: importing an mbox, its speed and its memory.

4. `digestbot import` of a list into a fresh store (a whole process: store
   and parse every message) against mail-parser alone parsing the same
   messages one by one on one core in this process.
5. Peak RSS of importing a 1 GB mbox against a 100 MB one (memory must not
   grow with the input) and against a fixed 150 MB ceiling.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from bot.mail.parse import parse_mail
from bot.settings import LimitSettings
from bot.store.identity import message_id_of
from bot.tools.bench import data
from bot.tools.bench.data import Dataset, Plan
from bot.tools.bench.measure import Run, run_command
from bot.tools.bench.report import Goal, Result, rated

SPEED_GOAL = Goal(">=", 3)
GROWTH_GOAL = Goal("<=", 1.2)
CEILING_MB = 150.0
_STAMP = datetime(2024, 1, 1, tzinfo=UTC)
_LIMITS = LimitSettings()
_REPORT = re.compile(r"(\d+) read, (\d+) new, (\d+) already stored, (\d+) parsed, (\d+) flagged")


def import_once(plan: Plan, dataset: Dataset, name: str, *, sample_tree: bool = False) -> Run:
    """Import `dataset` into a new, empty store; the store is deleted afterwards."""
    folder = plan.work / f"import-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = data.config(plan, f"import-{name}", folder / "store.sqlite3")
    try:
        return run_command([*data.digestbot(), "-c", str(config), "import", str(dataset.mbox)],
                           sample_tree=sample_tree)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def speed(plan: Plan, dataset: Dataset, key: str, label: str) -> list[Result]:
    """Target 4 on `dataset`, and (for information) parsing alone against the same anchor."""
    cpu = time.process_time()
    first, count = parse_seconds(dataset, _mail_parser)
    anchor_cpu = time.process_time() - cpu
    runs = [import_once(plan, dataset, key) for _ in range(plan.sizes.repeat)]
    run = min(runs, key=lambda r: r.seconds)
    anchor = first if plan.mode == "tiny" else min(first, parse_seconds(dataset, _mail_parser)[0])  # before, after
    ours, _ = parse_seconds(dataset, _parse_mail)
    match = _REPORT.search(run.stdout)
    counts = match.group(0) if match else run.stdout.strip()[-200:]
    per_message = f"{anchor / max(count, 1) * 1000:.2f} ms and {ours / max(count, 1) * 1000:.2f} ms a message"
    note = (f"{dataset.name}: {count} messages, {dataset.mbox.stat().st_size / data.MB:.1f} MB; mail-parser and "
            f"bot.mail.parse {per_message}; CPU time: mail-parser {anchor_cpu:.2f} s, the import "
            f"{run.cpu_seconds:.2f} s in all its processes; "
            f"it said \"{counts}\"")
    return [
        rated(key, label, ("mail-parser, 1 core", anchor), ("digestbot import", run.seconds), SPEED_GOAL, note=note),
        rated(f"{key}-parse", label.replace("import", "parsing alone"), ("mail-parser, 1 core", anchor),
              ("bot.mail.parse, 1 core", ours), None),
    ]


def parse_seconds(dataset: Dataset, parse: Callable[[bytes], object]) -> tuple[float, int]:
    """Seconds `parse` takes over every message of the mbox, one by one (reading the file is not timed)."""
    total = 0.0
    count = 0
    for chunk in _chunks(dataset, 500):
        start = time.perf_counter()
        for raw in chunk:
            parse(raw)
        total += time.perf_counter() - start
        count += len(chunk)
    return total, count


def _mail_parser(raw: bytes) -> object:
    import mailparser

    logging.getLogger("mailparser").setLevel(logging.ERROR)  # it warns about every PGP signature
    return mailparser.parse_from_bytes(raw)


def _parse_mail(raw: bytes) -> object:
    return parse_mail(raw, message_id_of(raw), _STAMP, _LIMITS)


def _chunks(dataset: Dataset, size: int) -> Iterator[list[bytes]]:
    from bot.mail.source import MboxSource

    chunk: list[bytes] = []
    for mail in MboxSource(dataset.mbox):
        chunk.append(mail.raw)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def memory(plan: Plan) -> list[Result]:
    """Target 5: the peak RSS of two imports ten times apart in size."""
    sizes = plan.sizes
    small = data.generated(plan, "memory", max_bytes=sizes.memory_small, seed=plan.seed + 4)
    large = data.generated(plan, "memory", max_bytes=sizes.memory_large, seed=plan.seed + 4)
    small_run = import_once(plan, small, "memory-small", sample_tree=True)
    large_run = import_once(plan, large, "memory-large", sample_tree=True)
    small_label, large_label = _size(small), _size(large)
    note = (f"{small_label} ({small.stats.messages:,} messages) in {small_run.seconds:.1f} s, "
            f"{large_label} ({large.stats.messages:,} messages) in {large_run.seconds:.1f} s; "
            f"peak RSS is ru_maxrss of the import process (its largest process); the whole tree "
            f"(main process plus parse workers, summed PSS, sampled) peaked at {small_run.tree_pss_mb:.0f} MB "
            f"and {large_run.tree_pss_mb:.0f} MB")
    growth = rated("memory-growth", f"5. import peak RSS, {large_label} vs {small_label}",
                   (small_label, small_run.max_rss_mb), (large_label, large_run.max_rss_mb), GROWTH_GOAL,
                   unit="MB", note=note, invert=True)
    ceiling = rated("memory-ceiling", f"5. import peak RSS, {large_label}, vs {CEILING_MB:.0f} MB",
                    ("ceiling", CEILING_MB), (large_label, large_run.max_rss_mb), Goal("<=", 1.0), unit="MB",
                    invert=True)
    return [growth, ceiling]


def _size(dataset: Dataset) -> str:
    size = dataset.stats.bytes
    return f"{size / (1024 * data.MB):.1f} GB" if size >= 1024 * data.MB * 0.9 else f"{size / data.MB:.0f} MB"
