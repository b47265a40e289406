"""Instances sharing one PostgreSQL store (schedule.engine = "procrastinate", bot/schedule/cluster.py).

Real processes on the real PostgreSQL fixture: two `run --once` racing over the
same due jobs, and an instance killed mid-job whose work another one finishes.
The jobs are recording fakes here (each run appends "job list due start|done
pid" to a file); tests/test_cluster_e2e.py drafts real lists from Dovecot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SETUP, NOW = "2025-12-31T23:00+00:00", "2026-06-02T08:00+00:00"  # the yearly jobs: set up, then due once

# Runs bot.schedule.runner.run as the CLI does, with jobs that log to a file; the job named `slow`
# ("draft l3") waits for WORK.release before it finishes, so a test can kill its process mid-job.
SCRIPT = """
import logging, os, sys, time
from datetime import datetime
from bot.errors import DigestbotError
from bot.schedule.jobs import JOB_ORDER
from bot.schedule.runner import run
from bot.settings import load_settings

config, mode, now, work, slow = sys.argv[1:6]
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

def job(name, run_):
    what = f"{name} {run_.settings.list.name if name != 'poll' else '-'} {run_.due:%Y-%m-%dT%H:%M}"
    def note(step):
        with open(work, "a") as out:
            out.write(f"{what} {step} {os.getpid()}\\n")
    note("start")
    if what.startswith(slow + " "):
        while not os.path.exists(work + ".release"):
            time.sleep(0.02)
    time.sleep(0.02)  # a job takes a moment: the other instance has time to take the next one
    note("done")
    return f"{name} done"

jobs = {name: (lambda r, name=name: job(name, r)) for name in JOB_ORDER}
try:
    failed = run(load_settings(config), once=mode == "once", jobs=jobs, now=datetime.fromisoformat(now))
except DigestbotError as exc:
    print(f"digestbot: error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
sys.exit(1 if failed else 0)
"""


def cluster_config(tmp_path: Path, url: str, lists: int) -> Path:
    """`lists` lists whose draft, remind and send are yearly and due once from a year back."""
    entries = "".join(f'[[lists]]\nname = "l{n}"\naddress = "l{n}@lists.example.org"\nfolders = ["Lists/l{n}"]\n'
                      f'chair = "Chair {n}"\nchair_address = "chair{n}@example.org"\n\n' for n in range(lists))
    path = tmp_path / "digestbot.toml"
    path.write_text(f'[store]\nurl = "{url}"\n'
                    '[schedule]\nengine = "procrastinate"\nworker_timeout_seconds = 2\ntimezone = "UTC"\n'
                    'poll_minutes = 525600\ndraft_cron = "0 0 1 1 *"\nremind_cron = "0 0 1 1 *"\n'
                    'send_cron = "0 0 1 1 *"\nmisfire_grace_seconds = 0\n\n' + entries, encoding="utf-8")
    return path


class Instance:
    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.script = tmp_path / "instance.py"
        self.script.write_text(SCRIPT, encoding="utf-8")
        self.config, self.work = config, tmp_path / "work.log"

    def start(self, mode: str = "once", now: str = NOW, slow: str = "-") -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, str(self.script), str(self.config), mode, now, str(self.work), slow],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})

    def lines(self) -> list[list[str]]:
        text = self.work.read_text(encoding="utf-8") if self.work.exists() else ""
        return [line.split() for line in text.splitlines()]

    def wait_for(self, job: str, step: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not any(" ".join(line[:2]) == job and line[3] == step for line in self.lines()):
            assert time.monotonic() < deadline, f"never saw {job} {step}: {self.lines()}"
            time.sleep(0.05)


def finished(process: subprocess.Popen[str]) -> str:
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return err


def set_up(config: Path) -> None:
    """A first start writes the schedule down (nothing is due yet): the yearly jobs are due at NOW."""
    from datetime import datetime

    from bot.schedule.runner import run

    assert run(load_settings(config), once=True, jobs={}, now=datetime.fromisoformat(SETUP)) == []


def expected(lists: int) -> set[str]:
    return {f"{job} l{n}" for n in range(lists) for job in ("draft", "remind", "send")}


def runs(instance: Instance) -> Counter[str]:
    """How many times each list's job finished."""
    return Counter(" ".join(line[:2]) for line in instance.lines() if line[3] == "done" and line[0] != "poll")


def test_two_instances_racing_run_every_due_job_exactly_once(tmp_path: Path, postgres_url: str) -> None:
    lists = 12
    instance = Instance(tmp_path, cluster_config(tmp_path, postgres_url, lists))
    set_up(instance.config)

    first, second = instance.start(), instance.start()
    finished(first), finished(second)

    done = runs(instance)
    assert set(done) == expected(lists) and set(done.values()) == {1}, done
    assert {line[2] for line in instance.lines() if line[0] != "poll"} == {"2026-01-01T00:00"}  # the run due
    for n in range(lists):  # each list's jobs one at a time, in order, whichever instance ran them
        steps = [line[0] + " " + line[3] for line in instance.lines() if line[1] == f"l{n}"]
        assert steps == [f"{job} {step}" for job in ("draft", "remind", "send") for step in ("start", "done")]
    workers = {line[4] for line in instance.lines()}
    print(f"{len(workers)} instance(s) shared the work")
    # A third instance later finds nothing owed.
    finished(instance.start())
    assert runs(instance) == done


def test_an_instance_killed_mid_job_leaves_its_lists_to_another(tmp_path: Path, postgres_url: str) -> None:
    lists = 5
    instance = Instance(tmp_path, cluster_config(tmp_path, postgres_url, lists))
    set_up(instance.config)
    doomed = instance.start(slow="draft l3")
    instance.wait_for("draft l3", "start")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(30)
    instance.work.with_name(instance.work.name + ".release").touch()
    time.sleep(2.5)  # its heartbeat is older than schedule.worker_timeout_seconds now

    err = finished(instance.start())

    done = runs(instance)
    assert set(done) == expected(lists) and set(done.values()) == {1}, done
    starts = [line[4] for line in instance.lines() if line[:2] == ["draft", "l3"] and line[3] == "start"]
    assert len(starts) == 2 and starts[0] == str(doomed.pid) and starts[1] != starts[0]
    assert "draft:l3: the run due" in err and "was cut short; running it again" in err


def test_procrastinate_needs_a_postgresql_store(tmp_path: Path) -> None:
    path = tmp_path / "digestbot.toml"
    path.write_text('[store]\npath = "s.sqlite3"\n[schedule]\nengine = "procrastinate"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"schedule.engine: \"procrastinate\" shares a PostgreSQL store"):
        load_settings(path)


def test_a_running_daemon_takes_its_share_and_stops_on_sigterm(tmp_path: Path, postgres_url: str) -> None:
    """`run` (the daemon) hears of jobs another instance's tick queued, runs some, and stops cleanly."""
    lists = 12
    instance = Instance(tmp_path, cluster_config(tmp_path, postgres_url, lists))
    set_up(instance.config)
    daemon = instance.start("daemon", now=SETUP)  # its own ticks come each minute; nothing is due at SETUP
    time.sleep(3)  # started and listening

    finished(instance.start())  # a `run --once` at NOW queues every due job and works alongside

    done = runs(instance)
    assert set(done) == expected(lists) and set(done.values()) == {1}, done
    assert str(daemon.pid) in {line[4] for line in instance.lines()}  # the daemon took its share
    daemon.send_signal(signal.SIGTERM)
    finished(daemon)


def test_a_tick_killed_mid_run_does_not_stop_every_later_tick(tmp_path: Path, postgres_url: str) -> None:
    """An instance killed while its tick writes the ledger: the next instance's tick still runs and owes."""
    import psycopg

    from bot.store.urls import libpq_url

    lists = 3
    instance = Instance(tmp_path, cluster_config(tmp_path, postgres_url, lists))
    set_up(instance.config)
    with psycopg.connect(libpq_url(postgres_url)) as blocker, \
            psycopg.connect(libpq_url(postgres_url), autocommit=True) as watcher:
        blocker.execute("SELECT * FROM schedule_runs FOR UPDATE")  # the tick's first owe waits on these rows
        doomed = instance.start()
        deadline = time.monotonic() + 60
        while not watcher.execute("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                  "AND query LIKE 'UPDATE schedule_runs%'").fetchall():
            assert time.monotonic() < deadline and doomed.poll() is None, "the tick never reached the ledger"
            time.sleep(0.05)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(30)
        blocker.rollback()
    time.sleep(2.5)  # its heartbeat is older than schedule.worker_timeout_seconds now

    finished(instance.start())

    done = runs(instance)
    assert set(done) == expected(lists) and set(done.values()) == {1}, done


def test_an_instance_only_slow_is_not_run_over_by_the_one_taking_its_job(tmp_path: Path, postgres_url: str) -> None:
    """Stopped (SIGSTOP) past the heartbeat timeout mid-job, then resumed: its job still runs once, in order."""
    lists = 3
    instance = Instance(tmp_path, cluster_config(tmp_path, postgres_url, lists))
    set_up(instance.config)
    slow = instance.start(slow="draft l1")
    instance.wait_for("draft l1", "start")
    slow.send_signal(signal.SIGSTOP)
    instance.work.with_name(instance.work.name + ".release").touch()
    time.sleep(2.5)  # declared dead by the others: its heartbeat is older than worker_timeout_seconds
    other = instance.start()
    time.sleep(4)  # the other instance's tick hands the job on; it may take it
    slow.send_signal(signal.SIGCONT)
    assert "draft:l1: its instance is late with its heartbeat but still running it" in finished(other)
    # It finishes its job; then procrastinate, which pruned it as dead, refuses it the next one (and so it
    # exits with the queue's error, as a daemon would for systemd to restart it): its lists went on elsewhere.
    _out, err = slow.communicate(timeout=120)
    assert slow.returncode == 0 or "digestbot: error: the job queue in" in err, err
    finished(instance.start())  # the next `run --once` (cron's next minute): what the two left, if anything

    done = runs(instance)
    assert set(done) == expected(lists) and set(done.values()) == {1}, (done, instance.lines())
    steps = [line[0] + " " + line[3] for line in instance.lines() if line[1] == "l1"]
    assert steps == [f"{job} {step}" for job in ("draft", "remind", "send") for step in ("start", "done")], steps
