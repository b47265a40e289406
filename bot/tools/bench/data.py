"""Benchmark inputs: sizes, cached mboxes and stores, configs.

Generated mboxes and the stores imported from them are cached (by default
under /tmp/digestbot-bench-cache) keyed by the generator version, the seed,
the size and, for stores, a hash of the code that wrote them: the 1 GB mbox
and the 100,000-message store are built once, not on every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from bot.model import RawMail
from bot.tools.bench.traffic import VERSION, TrafficStats, generate

CACHE = Path(os.environ.get("DIGESTBOT_BENCH_CACHE", "/tmp/digestbot-bench-cache"))
MB = 1024 * 1024
_DATE = re.compile(rb"^Date:[ \t]*(.+)$", re.MULTILINE | re.IGNORECASE)
_STORE_CODE = ("mail/parse.py", "store/database.py", "mail/ingest.py", "mail/source.py")


@dataclass(frozen=True, slots=True)
class Sizes:
    list_messages: int = 3115  # a year of a busy list (the real list had 3,115)
    thread_sentences: int = 900
    archive_messages: int = 100_000
    memory_small: int = 100 * MB
    memory_large: int = 1024 * MB
    imap_messages: int = 3115
    imap_large_messages: int = 31_150  # ten times the folder: a nothing-new poll must not grow with it
    repeat: int = 3  # runs of a slow figure (the fastest counts)
    cheap_repeat: int = 5  # runs of a figure that takes well under a second


MODES = {
    "full": Sizes(),
    "quick": Sizes(archive_messages=20_000, memory_small=10 * MB, memory_large=100 * MB, repeat=2),
    "tiny": Sizes(list_messages=150, thread_sentences=60, archive_messages=600, memory_small=1 * MB,
                  memory_large=4 * MB, imap_messages=25, imap_large_messages=250, repeat=1, cheap_repeat=1),
}


@dataclass(frozen=True, slots=True)
class Plan:
    mode: str
    work: Path  # scratch space, removed afterwards
    cache: Path = CACHE
    seed: int = 3
    real: tuple[Path, ...] = ()
    only: frozenset[str] = field(default_factory=frozenset)

    @property
    def sizes(self) -> Sizes:
        return MODES[self.mode]

    def wants(self, key: str) -> bool:
        return not self.only or key in self.only


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    mbox: Path
    stats: TrafficStats


def generated(plan: Plan, name: str, *, messages: int | None = None, max_bytes: int | None = None,
              seed: int | None = None) -> Dataset:
    """A generated mbox from the cache, written first if missing."""
    seed = plan.seed if seed is None else seed
    size = f"m{messages}" if messages is not None else f"b{max_bytes}"
    path = plan.cache / f"{name}-v{VERSION}-s{seed}-{size}.mbox"
    meta = path.with_suffix(".json")
    if not (path.exists() and meta.exists()):
        plan.cache.mkdir(parents=True, exist_ok=True)
        for stale in plan.cache.glob(f"{name}-v*-s{seed}-{size}*"):  # an older generator's output, or unfinished
            stale.unlink()
        partial = path.with_suffix(".partial")
        stats = generate(partial, messages=messages, max_bytes=max_bytes, seed=seed)
        meta.write_text(json.dumps(_dump(stats)))
        partial.rename(path)
    return Dataset(name, path, _load(json.loads(meta.read_text())))


def real(plan: Plan) -> Dataset | None:
    """The real mboxes given on the command line, as one mbox in the work directory."""
    if not plan.real:
        return None
    path = plan.work / "real-lists.mbox"
    with path.open("wb") as out:
        for source in plan.real:
            with source.open("rb") as handle:
                shutil.copyfileobj(handle, out)
            out.write(b"\n")
    return Dataset("real lists (" + ", ".join(p.stem for p in plan.real) + ")", path, scan(path))


def scan(path: Path) -> TrafficStats:
    """Message counts by week and month of an mbox, from its Date headers."""
    stats = TrafficStats()
    for raw in _raw_messages(path):
        when = _date_of(raw)
        if when is not None:
            stats.add(when, len(raw))
    return stats


def select(source: Path, target: Path, start: datetime, end: datetime) -> int:
    """Copy the messages of `source` dated in [start, end) to a new mbox; returns how many."""
    count = 0
    with target.open("wb") as out:
        for raw in _raw_messages(source):
            when = _date_of(raw)
            if when is not None and start <= when < end:
                out.write(b"From bench@localhost Thu Jan  1 00:00:00 1970\n" + _escape(raw) + b"\n\n")
                count += 1
    return count


def _raw_messages(path: Path) -> Iterator[bytes]:
    from bot.mail.source import MboxSource

    mail: RawMail
    for mail in MboxSource(path):
        yield mail.raw


def _escape(raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    return b"\n".join(b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in lines)


def _date_of(raw: bytes) -> datetime | None:
    head = raw[: raw.find(b"\n\n")]
    match = _DATE.search(head)
    if not match:
        return None
    try:
        when = parsedate_to_datetime(match.group(1).decode("ascii", "replace").strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def code_hash() -> str:
    """A hash of the code that decides what a store holds (a cached store is rebuilt when it changes)."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[2]
    for name in _STORE_CODE:
        digest.update((package / name).read_bytes())
    return digest.hexdigest()[:12]


def config(plan: Plan, name: str, store: Path) -> Path:
    """A digestbot config for `store` (UTC weeks starting on Monday)."""
    path = plan.work / f"{name}.toml"
    path.write_text(f'[list]\nname = "driftwood-devel"\naddress = "driftwood-devel@lists.example.org"\n'
                    f'timezone = "UTC"\n\n[store]\npath = "{store}"\n\n[digest]\nchair = "Maya Okafor"\n')
    return path


def _dump(stats: TrafficStats) -> dict[str, object]:
    return {"messages": stats.messages, "bytes": stats.bytes, "threads": stats.threads,
            "weeks": {d.isoformat(): n for d, n in stats.weeks.items()},
            "months": {f"{y:04d}-{m:02d}": n for (y, m), n in stats.months.items()}}


def _load(data: dict[str, object]) -> TrafficStats:
    stats = TrafficStats(messages=int(str(data["messages"])), bytes=int(str(data["bytes"])),
                         threads=int(str(data["threads"])))
    weeks = data["weeks"]
    months = data["months"]
    assert isinstance(weeks, dict) and isinstance(months, dict)
    stats.weeks.update({date.fromisoformat(d): int(n) for d, n in weeks.items()})
    stats.months.update({(int(k[:4]), int(k[5:])): int(n) for k, n in months.items()})
    return stats


def digestbot() -> list[str]:
    """The console script of this environment (as users run it), else `python -m bot.cli.main`."""
    import sys

    script = Path(sys.executable).parent / "digestbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli.main"]


def built_store(plan: Plan, data: Dataset) -> Path:
    """A store holding `data`, imported once and cached while the storing code is unchanged."""
    from bot.tools.bench.measure import run_command

    path = plan.cache / f"{data.mbox.stem}-{code_hash()}.sqlite3"
    if data.mbox.parent != plan.cache:  # not a cached input: build in the work directory
        path = plan.work / f"{data.mbox.stem}.sqlite3"
    if path.exists():
        return path
    for stale in path.parent.glob(f"{data.mbox.stem}-*.sqlite3*"):  # built by older code, or unfinished
        stale.unlink()
    partial = path.with_name(path.name + ".partial")
    run_command([*digestbot(), "-q", "-c", str(config(plan, "build", partial)), "import", str(data.mbox)])
    _checkpoint(partial)
    partial.rename(path)
    return path


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the database file, so the store is one self-contained file."""
    from bot.store.sqlite import fold_wal

    fold_wal(path)
