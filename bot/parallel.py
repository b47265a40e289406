"""Map a function over a list on two cores, with a forked child taking part of it.

A draft spends most of its time summarizing items, one after another, while
the machine's second core is idle. A forked child inherits everything already
in memory (the cleaned mail, the loaded modules), so nothing is sent to it but
which inputs to take: both processes take the next index, costliest first,
from one pipe filled before the fork (a 4-byte read from a pipe is atomic),
so whichever is free takes the next input and neither waits long for the
other. The child sends back only its results, pickled.

The results are the same as a plain loop's, in the same order. Where forking
is unsafe or unavailable (other threads running, one core, no `os.fork`), or
a child fails in any way, this process computes what is missing itself: never
a lost result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from bot.lifeline import die_with_parent

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)
_TOKEN = struct.Struct("=I")  # one index in the queue


def can_fork() -> bool:
    """A second core to use, and forking safe: it copies only the calling thread, so it must be the only one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return hasattr(os, "fork") and cores > 1 and threading.active_count() == 1


def fork_map(work: Callable[[T], R], inputs: Sequence[T], costs: Sequence[float], *, min_cost: float = 0,
             while_waiting: Callable[[], object] | None = None) -> list[R]:
    """`[work(x) for x in inputs]`, shared with a forked child, costliest input (by `costs`) first.

    Runs in this process alone when the total cost is below `min_cost` (a fork
    costs a few milliseconds) or when forking is unsafe. `while_waiting` runs
    here once no input is left to take, while the child may still be at work.
    """
    if len(inputs) < 2 or sum(costs) < min_cost or not can_fork():
        return [work(x) for x in inputs]
    queue = PipeQueue.filled(sorted(range(len(inputs)), key=lambda i: -costs[i]))
    if queue is None:
        return [work(x) for x in inputs]
    child = _Child(lambda: [(i, work(inputs[i])) for i in queue.take()])
    log.debug("%d inputs shared with forked worker %d", len(inputs), child.pid)
    results: dict[int, R] = {}
    try:
        results.update((i, work(inputs[i])) for i in queue.take())
        if while_waiting is not None:
            while_waiting()
    except BaseException:
        child.stop()
        raise
    finally:
        queue.close()
    received = child.results()
    if received is None:
        log.debug("forked worker %d failed; what it took is computed here", child.pid)
    results.update(received or [])
    return [results[i] if i in results else work(inputs[i]) for i in range(len(inputs))]


class PipeQueue:
    """Indexes in a pipe, written before the fork; each process reads one at a time until none is left."""

    def __init__(self, read_end: int) -> None:
        self.read_end = read_end

    @classmethod
    def filled(cls, order: list[int]) -> PipeQueue | None:
        """The queue, or None if the pipe cannot hold it all (a system with small pipes)."""
        read_end, write_end = os.pipe()
        data = b"".join(_TOKEN.pack(i) for i in order)
        os.set_blocking(write_end, False)  # nothing reads yet: a full pipe must fail, not wait forever
        try:
            written = os.write(write_end, data)
        except BlockingIOError:
            written = 0
        finally:
            os.close(write_end)  # so a read past the last index is the end of the file, not a wait
        if written == len(data):
            return cls(read_end)
        os.close(read_end)
        return None

    def take(self) -> Iterator[int]:
        while token := os.read(self.read_end, _TOKEN.size):
            yield _TOKEN.unpack(token)[0]

    def close(self) -> None:
        os.close(self.read_end)


class _Child:
    """A forked child running `work`, its result read back through a pipe."""

    def __init__(self, work: Callable[[], list[Any]]) -> None:
        read_end, write_end = os.pipe()
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:  # the child: compute, send, and leave without running the parent's exit handlers
            status = 1
            try:
                die_with_parent(parent)  # a parent killed outright must not leave this child behind
                os.close(read_end)
                with open(write_end, "wb") as pipe:
                    pickle.dump(work(), pipe, protocol=pickle.HIGHEST_PROTOCOL)
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
        if status != 0 or not data:
            return None
        received: list[Any] = pickle.loads(data)
        return received

    def stop(self) -> None:
        """End a child we no longer wait for (this process failed or was interrupted)."""
        self.pipe.close()
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
