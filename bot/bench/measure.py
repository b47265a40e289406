"""Timing and peak memory, as the OS reports them.

Whole commands run in a child process: wall time from a monotonic clock,
peak RSS from the child's own `rusage` (os.wait4, so no other child's figure
leaks in). `ru_maxrss` is the largest single process of the tree; a sampler
also sums the RSS of the whole tree (the parse workers too) every 20 ms.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    max_rss_mb: float  # ru_maxrss of the child (the largest process of its tree)
    tree_rss_mb: float  # sampled peak of the summed RSS of the child and its descendants
    returncode: int
    stdout: str
    stderr: str


class CommandFailed(RuntimeError):
    pass


def run_command(argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 1800.0) -> Run:
    """Run `argv` to completion; raises CommandFailed on a non-zero exit."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        sampler = _TreeSampler(proc.pid)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            sampler.stop()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = Run(seconds, usage.ru_maxrss / 1024, sampler.peak_kb / 1024, proc.returncode,
                     out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if result.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
    return result


def best_run(argv: Sequence[str], repeat: int, **kwargs: Any) -> Run:
    """The fastest of `repeat` runs (noise on a shared machine only ever adds time)."""
    runs = [run_command(argv, **kwargs) for _ in range(max(1, repeat))]
    return min(runs, key=lambda r: r.seconds)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def best_time(fn: Callable[[], object], repeat: int) -> float:
    return min(timed(fn)[0] for _ in range(max(1, repeat)))


class _TreeSampler:
    """Samples the summed RSS of a process tree in a background thread."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(pid) for pid in _tree(self.pid)))
            self._stop.wait(self.interval)


def _tree(pid: int) -> list[int]:
    found = [pid]
    for parent in found:
        try:
            text = Path(f"/proc/{parent}/task/{parent}/children").read_text()
        except OSError:
            continue
        found.extend(int(child) for child in text.split())
    return found


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0
