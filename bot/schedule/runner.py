"""`digestbot run` and `digestbot schedule`: the store's lock, logging, and which engine runs the jobs.

One instance per store (the default): the engine of bot/schedule/engine.py, under
the store's file lock. With schedule.engine = "procrastinate", instances sharing a
PostgreSQL store split the jobs (bot/schedule/cluster.py), and no file lock is taken.
"""

from __future__ import annotations

import logging
import logging.handlers
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import ConfigError, ScheduleError
from bot.schedule.engine import Runner as Runner
from bot.schedule.engine import due_runs as due_runs  # the engine's names, where tests and old job stores look
from bot.schedule.engine import job_target as job_target
from bot.schedule.jobs import JobFn, utc
from bot.schedule.lists import ListLedger, all_job_specs
from bot.settings import Settings
from bot.store.ledger import JOBS_TABLE as JOBS_TABLE
from bot.store.locks import holding, lock_path

log = logging.getLogger("digestbot.schedule")


class LockBusy(ScheduleError):
    """Another bot is working on this store."""

    exit_code = 75  # EX_TEMPFAIL: cron and systemd can tell "busy, try later" from "broken"


@contextmanager
def _stop_on_signals(runner: Runner) -> Iterator[None]:
    """SIGTERM and Ctrl-C: finish the current job, start no other, exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ask_stop(signum: int, _frame: Any) -> None:
        if not runner.stop.is_set():
            log.warning("%s: stopping after the current job", signal.Signals(signum).name)
        runner.stop.set()
        runner.wake.set()

    previous = {sig: signal.signal(sig, ask_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(settings: Settings, *, once: bool, wait: float = 0, jobs: Mapping[str, JobFn] | None = None,
        now: datetime | None = None) -> list[str]:
    """Take the store's lock, then one pass (`once`) or the daemon; the ids of jobs that failed."""
    from bot.schedule.jobs import live_jobs
    from bot.store.database import open_store

    all_job_specs(settings)  # a bad schedule is a config error before anything is written
    if settings.schedule.engine == "procrastinate":  # instances share the store: no lock of one host
        from bot.schedule.cluster import serve

        store = open_store(settings.store_url, settings.lists[0].store_list)
        try:
            return serve(settings, store, jobs if jobs is not None else live_jobs(), once=once, now=now)
        finally:
            store.close()
    with store_lock(settings, wait):
        store = open_store(settings.store_url, settings.lists[0].store_list)
        try:
            runner = Runner(settings, store, jobs if jobs is not None else live_jobs(), now=now)
            with _stop_on_signals(runner):
                if once:
                    return runner.run_pass(now)
                runner.serve()
                return []
        finally:
            store.close()


# -- one bot per store, logging, and `digestbot schedule` -------------------------


@contextmanager
def store_lock(settings: Settings, wait: float) -> Iterator[None]:
    """Held for a whole `run`: wait up to `wait` seconds for another bot, then LockBusy."""
    path = lock_path(settings)

    def busy() -> LockBusy:
        waited = f" after waiting {wait:g}s" if wait > 0 else ""
        return LockBusy(f"another digestbot is already running on this store ({path} is locked){waited}; "
                        "not starting a second one")

    with holding(path, wait, busy):
        yield


def setup_logging(settings: Settings) -> None:
    """schedule.log_file: the job lines go there instead of stderr. APScheduler's own chatter only with -v."""
    root = logging.getLogger()
    if not root.isEnabledFor(logging.DEBUG):
        logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.getEffectiveLevel()))
    name = settings.schedule.log_file
    if not name:
        return
    path = Path(name)
    if not path.is_absolute() and settings.config_path:
        path = Path(settings.config_path).parent / path
    try:
        handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")  # reopens after logrotate
    except OSError as exc:
        raise ConfigError(f"schedule.log_file: cannot open {path}: {exc.strerror}") from None
    handler.setFormatter(logging.Formatter("%(asctime)s digestbot[%(process)d]: %(levelname)s: %(message)s"))
    for old in list(root.handlers):
        if isinstance(old, logging.StreamHandler) and old.stream is sys.stderr:
            root.removeHandler(old)
    root.addHandler(handler)


def schedule_table(settings: Settings, now: datetime | None = None) -> str:
    """`digestbot schedule`: each job, its schedule, next run and last outcome; reads, never runs."""
    from bot.store.database import open_store

    zone = ZoneInfo(settings.schedule.timezone)
    now = utc(now or datetime.now(UTC))
    specs = all_job_specs(settings)  # a bad schedule is a config error before the store is opened
    first = settings.lists[0].store_list
    store = open_store(settings.store_url, first)
    try:
        persisted = store.ledger.persisted_jobs()
        last = ListLedger(store, first, qualified=bool(settings.entries)).last_runs()
    finally:
        store.close()

    def fmt(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z") if moment else "never"

    lines = [f"jobs (times in {settings.schedule.timezone}; now {fmt(now)}):"]
    wide = max(7, *(len(job_id) for job_id in specs))  # "draft:xen-devel": a list's own jobs
    for spec in specs.values():
        job = persisted.get(spec.id)
        next_run = job.next_run_time if job is not None and job.name == spec.key else None
        note = ""
        if job is None or job.name != spec.key:
            next_run = spec.trigger.get_next_fire_time(None, now)
            note = "  (not started yet)" if job is None else "  (schedule changed: applies at the next start)"
        elif next_run is not None and utc(next_run) <= now:
            note = "  (overdue: runs at the next start)"
        lines.append(f"  {spec.id:<{wide}} {spec.label:<24} next {fmt(next_run)}{note}")
        ran = last.get(spec.id)
        if ran is not None and ran.owed_for is not None:
            lines.append(f"  {'':<{wide}} owes the run due {fmt(ran.owed_for)} (runs at the next start)")
        if ran is not None and ran.outcome:
            again = f" ({ran.failures} times in a row)" if ran.failures > 1 else ""
            lines.append(f"  {'':<{wide}} last {fmt(ran.due)}: {ran.outcome}{again}: {ran.line}")
    return "\n".join(lines)
