"""Timing and peak memory, as the OS reports them.

Whole commands run in a child process: wall time from a monotonic clock,
peak RSS from the child's own `rusage` (os.wait4 in a small wrapper, so no
other process's figure leaks in). `ru_maxrss` is the largest single process
of the tree; a sampler also sums the PSS of the whole tree (the parse
workers too) every 20 ms.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
    cpu_seconds: float  # user + system, the child and every descendant it waited for
    max_rss_mb: float  # ru_maxrss of the child (the largest process of its tree)
    tree_pss_mb: float  # sampled peak of the summed PSS of the child and its descendants (0 if not sampled)
    returncode: int
    stdout: str
    stderr: str


class CommandFailed(RuntimeError):
    pass


# Runs the command and reports its own wait4() figures. The command must not
# be started from this (large) process: on exec, Linux keeps the old address
# space's high-water mark in ru_maxrss, so every child would inherit ours.
_WRAPPER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss,
               "status": status}, out)
"""


def run_command(argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 1800.0, sample_tree: bool = False) -> Run:
    """Run `argv` to completion; raises CommandFailed on a non-zero exit.

    `sample_tree` samples the tree's PSS (for memory figures only: reading smaps every 20 ms
    takes CPU from the command, which a timed command that uses both cores would feel).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".json") as figures:
        wrapper = [sys.executable, "-S", "-c", _WRAPPER, figures.name, *argv]
        proc = subprocess.Popen(wrapper, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
        sampler = _TreeSampler(proc.pid) if sample_tree else None
        killer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        killer.start()
        try:
            proc.wait()
        finally:
            killer.cancel()
            if sampler is not None:
                sampler.stop()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        found = json.loads(figures.read() or "{}")
    if proc.returncode != 0 or not found:
        raise CommandFailed(f"{' '.join(argv)} failed ({proc.returncode}): {stderr.strip()[-2000:]}")
    returncode = os.waitstatus_to_exitcode(found["status"])
    if returncode != 0:
        raise CommandFailed(f"{' '.join(argv)} exited {returncode}: {stderr.strip()[-2000:]}")
    tree_kb = sampler.peak_kb if sampler is not None else 0
    return Run(found["seconds"], found["cpu"], found["maxrss_kb"] / 1024, tree_kb / 1024, returncode, stdout, stderr)


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
    """Samples the summed PSS of a process tree in a background thread."""

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
        while not self._stop.is_set():  # the wrapper itself does not count
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _tree(self.pid)[1:]))
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


def _pss_kb(pid: int) -> int:
    """The process's proportional set size: shared pages (a forked worker's) count once across the tree."""
    for name, key in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                if line.startswith(key):
                    return int(line.split()[1])
        except (OSError, ValueError):
            continue
    return 0
