"""`run` and `run --once` as real processes: the store lock, signals, the CLI's messages.

The jobs are recording fakes (a script calls bot.schedule.runner.run, as the CLI
does); the CLI itself is run where no job has to reach a server.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Runs bot.schedule.runner.run with jobs that log "job due start|done" lines to a file; the `slow`
# one waits for the test to create WORK.release before it finishes.
SCRIPT = """
import logging, os, sys, time
from datetime import datetime
from bot.errors import DigestbotError
from bot.schedule.jobs import JOB_ORDER
from bot.schedule.runner import run
from bot.settings import load_settings

config, mode, now, work, slow, wait = sys.argv[1:7]
logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

def job(name, run_):
    with open(work, "a") as out:
        out.write(f"{name} {run_.due:%Y-%m-%dT%H:%M} start\\n")
    if name == slow:  # until the test lets it finish
        deadline = time.monotonic() + 60
        while not os.path.exists(work + ".release") and time.monotonic() < deadline:
            time.sleep(0.02)
    with open(work, "a") as out:
        out.write(f"{name} {run_.due:%Y-%m-%dT%H:%M} done\\n")
    return f"{name} done"

jobs = {name: (lambda r, name=name: job(name, r)) for name in JOB_ORDER}
try:
    run(load_settings(config), once=mode == "once", wait=float(wait), jobs=jobs,
        now=None if now == "-" else datetime.fromisoformat(now))
except DigestbotError as exc:
    print(f"digestbot: error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
"""


# Yearly jobs that run however late: whatever the real date, each is due once from a year
# back, and not again while the test runs.
YEARLY = ('[store]\npath = "store.sqlite3"\n[schedule]\ntimezone = "Europe/London"\npoll_minutes = 525600\n'
          'draft_cron = "0 0 1 1 *"\nremind_cron = "0 0 1 1 *"\nsend_cron = "0 0 1 1 *"\nmisfire_grace_seconds = 0\n')


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "digestbot.toml"
    path.write_text('[store]\npath = "store.sqlite3"\n[schedule]\ntimezone = "Europe/London"\n', encoding="utf-8")
    return path


class Bot:
    """The fake-job script, started as its own process."""

    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.script = tmp_path / "bot_script.py"
        self.script.write_text(SCRIPT, encoding="utf-8")
        self.config = config
        self.work = tmp_path / "work.log"

    def start(self, mode: str, now: str, *, slow: str = "", wait: float = 0) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(self.script), str(self.config), mode, now, str(self.work), slow, str(wait)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())

    def once(self, now: str, **options: object) -> subprocess.CompletedProcess[str]:
        process = self.start("once", now, **options)  # type: ignore[arg-type]
        out, err = process.communicate(timeout=60)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def release(self) -> None:
        self.work.with_name(self.work.name + ".release").touch()

    def lines(self) -> list[str]:
        return self.work.read_text(encoding="utf-8").splitlines() if self.work.exists() else []

    def wait_for(self, line: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while line not in self.lines():
            assert time.monotonic() < deadline, f"never saw {line!r} in {self.lines()}"
            time.sleep(0.05)


def test_two_concurrent_run_once_never_both_work(tmp_path: Path, config: Path) -> None:
    bot = Bot(tmp_path, config)
    assert bot.once("2024-10-29T07:50+00:00").returncode == 0  # sets the jobs up; nothing is due yet
    first = bot.start("once", "2024-10-29T08:00+00:00", slow="poll")
    second = bot.start("once", "2024-10-29T08:00+00:00", slow="poll")
    bot.wait_for("poll 2024-10-29T08:00 start")  # one of them has the lock and is working...
    deadline = time.monotonic() + 60
    while first.poll() is None and second.poll() is None:  # ...so the other one gives up
        assert time.monotonic() < deadline
        time.sleep(0.02)
    bot.release()
    results = [(p.wait(60), p.stderr.read() if p.stderr else "") for p in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 75], results
    busy = next(err for code, err in results if code == 75)
    assert "digestbot: error: another digestbot is already running on this store" in busy
    assert "store.sqlite3.lock is locked); not starting a second one" in busy
    assert bot.lines() == [f"{job} 2024-10-29T08:00 {step}" for job in ("poll", "draft", "send")
                           for step in ("start", "done")]


def test_a_second_run_once_told_to_wait_waits_then_finds_the_work_done(tmp_path: Path, config: Path) -> None:
    bot = Bot(tmp_path, config)
    assert bot.once("2024-10-29T07:50+00:00").returncode == 0
    first = bot.start("once", "2024-10-29T08:00+00:00", slow="poll")
    bot.wait_for("poll 2024-10-29T08:00 start")
    second = bot.start("once", "2024-10-29T08:00+00:00", wait=60)
    time.sleep(1)
    assert second.poll() is None  # waiting for the lock
    bot.release()
    assert first.wait(60) == 0
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert len(bot.lines()) == 6  # poll, draft, send: once each, all by the first


def test_the_cli_says_clearly_that_another_bot_holds_the_store(tmp_path: Path, config: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; "
         "lock = FileLock(sys.argv[1]); lock.acquire(); print('locked', flush=True); time.sleep(60)",
         str(tmp_path / "store.sqlite3.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = subprocess.run([sys.executable, "-m", "bot.cli.main", "--config", str(config), "run", "--once"],
                                capture_output=True, text=True, env=env(), timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 75
    assert result.stderr.strip().splitlines()[-1] == (
        f"digestbot: error: another digestbot is already running on this store ({tmp_path}/store.sqlite3.lock "
        "is locked); not starting a second one")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_daemon_stops_after_the_current_job_and_loses_nothing(tmp_path: Path, signum: int) -> None:
    config = tmp_path / "digestbot.toml"
    config.write_text(YEARLY, encoding="utf-8")
    bot = Bot(tmp_path, config)
    a_year_ago = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    assert bot.once(a_year_ago).returncode == 0
    daemon = bot.start("daemon", "-", slow="poll")
    try:
        _wait_for_poll(bot)
        daemon.send_signal(signum)
        time.sleep(0.5)
        bot.release()  # the poll finishes after the signal
        _out, err = daemon.communicate(timeout=60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, err
    assert f"{signal.Signals(signum).name}: stopping after the current job" in err
    assert "stopping; left for the next start: draft, remind, send" in err
    assert [line.split()[::2] for line in bot.lines()] == [["poll", "start"], ["poll", "done"]]
    assert bot.once("-").returncode == 0  # the next start runs what was left, once
    assert [line.split()[0] for line in bot.lines()[2:]] == ["draft", "draft", "remind", "remind", "send", "send"]
    assert bot.once("-").returncode == 0
    assert len(bot.lines()) == 8


def _wait_for_poll(bot: Bot) -> None:
    deadline = time.monotonic() + 30
    while not any(line.startswith("poll ") for line in bot.lines()):
        assert time.monotonic() < deadline, "the daemon never started the poll"
        time.sleep(0.05)


def test_the_cli_runs_every_job_and_reports_the_ones_that_failed(tmp_path: Path) -> None:
    config = tmp_path / "digestbot.toml"
    config.write_text(YEARLY + 'log_file = "bot.log"\n[digest]\nmin_messages = 1\n', encoding="utf-8")
    assert Bot(tmp_path, config).once((datetime.now(UTC) - timedelta(days=400)).isoformat()).returncode == 0
    cli = [sys.executable, "-m", "bot.cli.main", "--config", str(config)]
    result = subprocess.run([*cli, "run", "--once"], capture_output=True, text=True, env=env(), timeout=120)
    # No IMAP server is configured: the poll fails, the other jobs run all the same.
    assert result.returncode == 1
    assert result.stderr == "digestbot: error: failed: poll (each is retried at its next run)\n"
    log = (tmp_path / "bot.log").read_text(encoding="utf-8")  # the job lines went to schedule.log_file
    assert "ERROR: poll (due " in log and "): failed: source.host: not set" in log
    assert "INFO: draft (due " in log and "0 message(s), fewer than digest.min_messages = 1" in log
    assert "INFO: remind (due " in log and "): no draft past its deadline [" in log
    assert "INFO: send (due " in log and "): nothing approved to send [" in log
    schedule = subprocess.run([*cli, "schedule"], capture_output=True, text=True, env=env(), timeout=60)
    assert schedule.returncode == 0, schedule.stderr
    assert "jobs (times in Europe/London; now " in schedule.stdout
    assert "  poll    every 525600 min" in schedule.stdout
    assert re.search(r"^  draft   cron 0 0 1 1 \* +next \w{3} \d{4}-01-01 00:00 GMT$", schedule.stdout, re.M)
    assert ": failed: source.host: not set" in schedule.stdout
