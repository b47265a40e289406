"""Map a function over a list on two cores, with a forked child doing part of it.

A draft spends most of its time summarizing items, one after another, while
the machine's second core is idle. A forked child inherits everything already
in memory (the cleaned mail, the loaded models), so it needs nothing sent to
it: it computes its share and sends back only the results, pickled through a
pipe. The parent computes the rest meanwhile.

The results are the same as a plain loop's, in the same order. Where forking
is unsafe or unavailable (other threads running, no `os.fork`) or a child
fails in any way, the parent computes everything itself: never a lost result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


def can_fork() -> bool:
    """A second core to use, and forking safe: it copies only the calling thread, so it must be the only one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return hasattr(os, "fork") and cores > 1 and threading.active_count() == 1


def fork_map(work: Callable[[T], R], inputs: Sequence[T], costs: Sequence[float], *, min_cost: float = 0,
             while_waiting: Callable[[], object] | None = None) -> list[R]:
    """`[work(x) for x in inputs]`, the inputs split by `costs` between this process and a forked child.

    Runs in this process alone when the total cost is below `min_cost` (a fork
    costs a few milliseconds) or when forking is unsafe. `while_waiting` runs
    here once this process has done its share, if a child is still at work.
    """
    if len(inputs) < 2 or sum(costs) < min_cost or not can_fork():
        return [work(x) for x in inputs]
    mine, theirs = balanced_halves(costs)
    child = _Child(work, [inputs[i] for i in theirs])
    log.debug("%d of %d inputs go to forked worker %d", len(theirs), len(inputs), child.pid)
    try:
        results: dict[int, R] = {i: work(inputs[i]) for i in mine}
        if while_waiting is not None:
            while_waiting()
    except BaseException:
        child.stop()
        raise
    received = child.results()
    if received is None:  # the child failed: its share is done here
        received = [work(inputs[i]) for i in theirs]
    results.update(zip(theirs, received, strict=True))
    return [results[i] for i in range(len(inputs))]


def balanced_halves(costs: Sequence[float]) -> tuple[list[int], list[int]]:
    """Indexes split in two of about equal cost: costliest first, each to the lighter side (on a tie, the shorter)."""
    sides: tuple[list[int], list[int]] = ([], [])
    totals = [0.0, 0.0]
    for index in sorted(range(len(costs)), key=lambda i: -costs[i]):
        lighter = 0 if (totals[0], len(sides[0])) <= (totals[1], len(sides[1])) else 1
        sides[lighter].append(index)
        totals[lighter] += costs[index]
    return sorted(sides[0]), sorted(sides[1])


class _Child:
    """A forked child computing `share`, its results read back through a pipe."""

    def __init__(self, work: Callable[[T], R], share: list[T]) -> None:
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
            status = 1
            try:
                os.close(read_end)
                with open(write_end, "wb") as pipe:
                    pickle.dump([work(x) for x in share], pipe, protocol=pickle.HIGHEST_PROTOCOL)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        self.pipe = open(read_end, "rb")  # noqa: SIM115 - closed by results() or stop()

    def results(self) -> list[Any] | None:
        """The child's results, once it has sent them all and exited; None if it failed."""
        try:
            with self.pipe:
                data = self.pipe.read()
            _, status = os.waitpid(self.pid, 0)
        except BaseException:
            self.stop()
            raise
        if status == 0 and data:
            received: list[Any] = pickle.loads(data)
            return received
        log.debug("forked worker %d ended with status %d; its share is computed here", self.pid, status)
        return None

    def stop(self) -> None:
        """End a child we no longer wait for (the parent failed or was interrupted)."""
        self.pipe.close()
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
