"""fork_map: a plain loop's results, in order, whether a forked child helps, fails or is not allowed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.parallel import can_fork, fork_map

PARENT = os.getpid()


def with_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def no_children_left() -> bool:
    """True when this process has no child, running or unreaped."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def taken_by_both(folder: Path) -> Callable[[int], tuple[int, int]]:
    """Work that each process, once it holds an input, holds until the other holds one too: both do a share."""

    def work(x: int) -> tuple[int, int]:
        mine, other = ("parent", "child") if os.getpid() == PARENT else ("child", "parent")
        (folder / mine).touch()
        for _ in range(1000):
            if (folder / other).exists():
                break
            time.sleep(0.01)
        return with_pid(x)

    return work


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 1000), min_size=2, max_size=30))
def test_results_are_a_plain_loops_in_order_and_part_comes_from_a_child(costs: list[float]) -> None:
    assert can_fork(), f"a test left threads running: {threading.enumerate()}"
    with tempfile.TemporaryDirectory() as folder:
        inputs = list(range(len(costs)))
        results = fork_map(taken_by_both(Path(folder)), inputs, costs)

    assert [value for value, _ in results] == [x * x for x in inputs]
    pids = {pid for _, pid in results}
    assert PARENT in pids and len(pids) == 2, "this process and one forked child each did a share"
    assert no_children_left()


def test_the_costliest_inputs_are_taken_first() -> None:
    taken: list[int] = []
    fork_map(lambda x: taken.append(x) if os.getpid() == PARENT else os._exit(1), [0, 1, 2, 3], [1, 9, 3, 5])
    # The child failed at once, so this process took every input, in the queue's order, then redid the child's.
    assert taken[:3] in ([1, 3, 2], [3, 2, 0], [1, 2, 0], [1, 3, 0])
    assert sorted(set(taken)) == [0, 1, 2, 3]


def test_a_small_or_single_input_stays_in_this_process() -> None:
    assert fork_map(with_pid, [3], [100]) == [(9, PARENT)]
    assert fork_map(with_pid, [1, 2, 3], [1, 1, 1], min_cost=10) == [(1, PARENT), (4, PARENT), (9, PARENT)]


def test_no_fork_while_another_thread_runs() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
        assert {pid for _, pid in fork_map(with_pid, list(range(6)), [5.0] * 6)} == {PARENT}
    finally:
        stop.set()
        other.join()


def fails_in_a_child(how: str) -> Callable[[int], tuple[int, int]]:
    def work(x: int) -> tuple[int, int]:
        if os.getpid() != PARENT:
            if how == "raises":
                raise RuntimeError("boom")
            if how == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            if how == "exits":
                os._exit(0)  # ends without sending anything
        return with_pid(x)

    return work


@pytest.mark.parametrize("how", ["raises", "killed", "exits"])
def test_a_failed_child_share_is_computed_here(how: str) -> None:
    work = fails_in_a_child(how)
    results = fork_map(work, list(range(8)), [1.0] * 8)

    assert results == [(x * x, PARENT) for x in range(8)]
    assert no_children_left()


def test_a_failure_here_ends_the_child_and_is_raised(tmp_path: Path) -> None:
    started = tmp_path / "child-started"

    def work(x: int) -> int:
        if os.getpid() == PARENT:
            for _ in range(1000):  # fail only once the child is busy with an input of its own
                if started.exists():
                    break
                time.sleep(0.01)
            raise KeyError(x)
        started.touch()
        threading.Event().wait(30)  # a child still busy when the parent gives up
        return x

    begun = time.monotonic()
    with pytest.raises(KeyError):
        fork_map(work, list(range(4)), [1.0] * 4)
    assert started.exists(), "the child was at work when this process failed"
    assert no_children_left()
    assert time.monotonic() - begun < 20, "the busy child was killed, not waited for"


def test_while_waiting_runs_here_once_after_this_share() -> None:
    calls: list[int] = []
    fork_map(with_pid, list(range(4)), [1.0] * 4, while_waiting=lambda: calls.append(os.getpid()))
    assert calls == [PARENT]


# --- end to end: `digestbot draft` summarizes in two processes, and drafts what one process drafts --------


def test_a_busy_month_drafted_in_two_processes_is_the_one_process_draft(tmp_path: Path) -> None:
    import subprocess
    import sys

    from bot.pipeline.digest import build_digest, render_options
    from bot.render.digest import render
    from bot.settings import load_settings
    from bot.store.database import open_store
    from bot.tools.bench.traffic import generate

    mbox = tmp_path / "list.mbox"
    start, end = generate(mbox, messages=700, seed=5).busiest_month()
    config = tmp_path / "c.toml"
    config.write_text(f'[list]\nname = "driftwood-devel"\ntimezone = "UTC"\n\n[store]\npath = "{tmp_path / "s.db"}"\n'
                      '\n[digest]\nchair = "Maya Okafor"\n')
    command = [sys.executable, "-m", "bot.cli.main", "-c", str(config)]
    subprocess.run([*command, "import", str(mbox)], check=True, capture_output=True)

    output = tmp_path / "draft.txt"
    drafted = subprocess.run([*command, "-v", "draft", "--since", f"{start:%Y-%m-%d}", "--until", f"{end:%Y-%m-%d}",
                              "-o", str(output)], check=True, capture_output=True, text=True)

    assert "inputs shared with forked worker" in drafted.stderr, "the draft was big enough to use both cores"
    settings = load_settings(str(config))
    store = open_store(settings.store_url)
    try:
        alone = build_digest(store, settings, start, end)  # one process, the plain loop
    finally:
        store.engine.dispose()
    assert sum(len(section.items) for section in alone.sections) >= 5
    assert output.read_text() == render(alone, "text", render_options(settings))


def test_a_queue_the_pipe_cannot_hold_is_refused_not_waited_on() -> None:
    from bot.parallel import PipeQueue

    assert PipeQueue.filled(list(range(40_000))) is None  # 160 kB: more than a pipe holds, and nothing reads yet
    queue = PipeQueue.filled([3, 1, 2])
    assert queue is not None and list(queue.take()) == [3, 1, 2]
    queue.close()
    many = list(range(20_000))
    assert fork_map(with_pid, many, [1.0] * len(many)) == [(x * x, PARENT) for x in many]  # too many: one process


def test_a_worker_arms_its_lifeline_without_starting_a_process() -> None:
    """Every parse worker calls die_with_parent: it must not spawn anything (ldconfig, say) to do it."""
    script = """
import os, subprocess, threading
spawned = []
real = subprocess.Popen.__init__
def record(self, args, *rest, **options):
    spawned.append(args)
    real(self, args, *rest, **options)
subprocess.Popen.__init__ = record
from bot.lifeline import die_with_parent
die_with_parent(os.getppid())
assert spawned == [], spawned
assert "lifeline" not in [t.name for t in threading.enumerate()], "the kernel's signal was not armed"
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
