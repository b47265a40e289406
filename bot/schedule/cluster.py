"""Several digestbots sharing one PostgreSQL store: procrastinate splits the due jobs between them.

    [store]
    url = "postgresql+psycopg://digestbot@db.example.org/digestbot"
    [schedule]
    engine = "procrastinate"        # pip install 'digestbot[postgres]'

Each instance runs `digestbot run` (or `run --once` from cron), and so a
procrastinate worker. procrastinate keeps its queue in the store's database, in
tables of its own that the first instance creates. When a job is due, and which
run it owes, is decided as for a single instance (bot/schedule/runner.py):
APScheduler's job store and our ledger, `schedule_runs`. procrastinate decides
which instance runs it, with two tasks:

    tick  deferred once a minute by procrastinate's periodic deferrer, once for all
          instances (a unique row per minute in its table), and by each `run --once`.
          Ticks run one at a time (a PostgreSQL advisory lock, not procrastinate's
          `lock`, which a tick killed mid-run would hold for good). A tick hands the
          jobs of an instance whose heartbeat stopped to the living ones, owes what
          has come due, and defers one `job` per owed run not already queued.
    job   runs one owed run. The jobs of a list share a lock, so they run one at a
          time and in order, on whichever instance is free; and a job reads the
          ledger again before it starts, so a run another instance finished in the
          meantime is not run twice. The poll has a lock of its own. A job also
          holds its lock as an advisory lock while it runs: an instance only late
          with its heartbeat (paused, swapping) still holds it, so its job is not
          handed on and run a second time beside it; a killed one's connection
          ends and frees it.

An instance killed mid-job leaves its job "doing": once its heartbeat is older
than schedule.worker_timeout_seconds, the next tick gives the job to another
instance, whose ledger shows the run was cut short (jobs are idempotent, as they
are for a single instance after kill -9).

Why procrastinate: the store is PostgreSQL already, and it has each part that
sharing needs (periodic deferral deduplicated in the database, per-key locks, a
deduplicating queueing lock, heartbeats and stalled-job retry), so there is no
queue or leader election of ours. APScheduler 3's job stores cannot hand jobs
between schedulers, and Celery or RQ would add a broker to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.errors import ConfigError, ScheduleError
from bot.schedule.engine import Runner
from bot.schedule.jobs import JobFn, utc
from bot.schedule.lists import rank, split
from bot.settings import Settings
from bot.store.database import Store
from bot.store.urls import libpq_url, safe_url

log = logging.getLogger("digestbot.schedule")
TICK = "digestbot.tick"
JOB = "digestbot.job"
QUEUE_TABLE = "procrastinate_jobs"


def job_lock(settings: Settings, job_id: str) -> str:
    """The lock a job runs under: its list's (so a list's jobs never overlap), or the poll's own."""
    job, name = split(job_id)
    return "digestbot:poll" if job == "poll" else f"digestbot:list:{name or settings.list.name}"


class Cluster:
    """One instance of several on a shared store: a procrastinate worker over the single-instance Runner."""

    def __init__(self, settings: Settings, store: Store, jobs: Mapping[str, JobFn], *, once: bool,
                 now: datetime | None = None) -> None:
        try:
            from procrastinate import App, PsycopgConnector
        except ImportError:
            raise ConfigError("schedule.engine: \"procrastinate\" is not installed; "
                              "pip install 'digestbot[postgres]'") from None
        self.settings, self.store, self.once = settings, store, once
        self.timeout = settings.schedule.worker_timeout_seconds
        with store.ledger.exclusive():  # instances starting together bring the job store in line one by one
            self.runner = Runner(settings, store, jobs, now=now)
        self.app = App(connector=PsycopgConnector(conninfo=libpq_url(settings.store_url), min_size=1, max_size=4))
        self._define_tasks()

    def _define_tasks(self) -> None:
        from procrastinate import exceptions

        async def tick(timestamp: int | None = None, now: str | None = None) -> None:
            moment = datetime.fromisoformat(now) if now else self.runner.clock()
            await self._tick(utc(moment), exceptions.AlreadyEnqueued)

        def job(job_id: str) -> None:
            self._job(job_id)

        # Ahead of queued jobs: a tick is what hands a dead instance's job on. No procrastinate `lock`:
        # a tick killed mid-run would hold it ("doing") for good, and only a tick hands such a job on.
        self.tick_task = self.app.task(name=TICK, queueing_lock=TICK, priority=10)(tick)
        if not self.once:  # `run --once` ticks once, for its own now; the daemon every minute
            self.app.periodic(cron="* * * * *", periodic_id="digestbot")(self.tick_task)
        self.job_task = self.app.task(name=JOB)(job)

    # -- the two tasks ----------------------------------------------------------------

    async def _tick(self, now: datetime, already: type[Exception]) -> None:
        """One tick at a time, under an advisory lock that a killed instance's connection takes with it."""
        hold = self.store.ledger.holding(TICK)
        await asyncio.to_thread(hold.__enter__)
        try:
            await self._hand_on_and_defer(now, already)
        finally:
            await asyncio.to_thread(hold.__exit__, None, None, None)

    async def _hand_on_and_defer(self, now: datetime, already: type[Exception]) -> None:
        manager = self.app.job_manager
        for stalled in await manager.get_stalled_jobs(seconds_since_heartbeat=self.timeout, task_name=JOB):
            job_id = stalled.task_kwargs.get("job_id", stalled.task_name)
            # A heartbeat can stop while its instance lives on (paused, swapping, cut off from the queue's
            # pool): its connection still holds the list's lock then, and handing the job on would run it twice.
            if await asyncio.to_thread(self.store.ledger.held, job_lock(self.settings, str(job_id))):
                log.warning("%s: its instance is late with its heartbeat but still running it", job_id)
                continue
            log.warning("%s: the instance running it stopped answering; it runs again here or elsewhere", job_id)
            await manager.retry_job(stalled)
        owed = await asyncio.to_thread(self._owe, now)
        queued = {job.task_kwargs.get("job_id") for status in ("todo", "doing")
                  for job in await manager.list_jobs_async(task=JOB, status=status)}
        for job_id in owed:
            if job_id in queued:
                continue
            with contextlib.suppress(already):  # another instance's tick queued it a moment ago
                await self.job_task.configure(lock=job_lock(self.settings, job_id),
                                              queueing_lock=f"digestbot:job:{job_id}").defer_async(job_id=job_id)

    def _owe(self, now: datetime) -> list[str]:
        """What is due at `now` written to the ledger; every job id that owes a run, in the order they run."""
        self.runner.collect(now)
        return [o.job_id for o in sorted(self.runner.ledger.owed(), key=lambda o: (rank(o.job_id), o.due))]

    def _job(self, job_id: str) -> None:
        # procrastinate's lock keeps a list's jobs apart only while its row says "doing"; this one also
        # holds while a job handed on from a live but slow instance still runs there (see _hand_on_and_defer).
        with self.store.ledger.holding(job_lock(self.settings, job_id)):
            self._run_if_owed(job_id)

    def _run_if_owed(self, job_id: str) -> None:
        owed = self.runner.ledger.owed_run(job_id)
        if owed is None:
            log.debug("%s: already run by another instance", job_id)
            return
        if split(job_id)[0] not in self.runner.jobs or job_id not in self.runner.specs:  # or a list gone
            self.runner.ledger.finish(job_id, owed.due, "skipped", "no such job", self.runner.clock())
            return
        if owed.interrupted:
            log.warning("%s: the run due %s was cut short; running it again", job_id, self.runner.fmt(owed.due))
        self.runner.run_owed(job_id, owed.due)

    # -- the worker ---------------------------------------------------------------------

    async def work(self, now: datetime | None) -> list[str]:
        """`run`: until SIGTERM or Ctrl-C; `run --once`: one tick, then until no job is left that this
        instance may start. The ids of the jobs that failed here."""
        from procrastinate import exceptions
        from procrastinate.schema import SchemaManager

        if await asyncio.to_thread(self.store.ledger.install_queue, QUEUE_TABLE, SchemaManager.get_schema()):
            log.info("created procrastinate's tables in the store's database")
        async with self.app.open_async():
            if self.once:
                # One waiting already (AlreadyEnqueued) owes what is due for this instance too.
                with contextlib.suppress(exceptions.AlreadyEnqueued):
                    await self.tick_task.defer_async(now=(now or self.runner.clock()).isoformat())
            else:
                log.info("running with any other instance on this store (procrastinate); "
                         "SIGTERM or Ctrl-C stops it after the current job")
            await self.app.run_worker_async(**self._worker_options())
        return self.runner.failed

    def _worker_options(self) -> dict[str, Any]:
        return {
            "name": f"digestbot@{socket.gethostname()}:{os.getpid()}",
            "wait": not self.once,
            "concurrency": 1,  # jobs are CPU-bound and synchronous: one at a time per instance
            "delete_jobs": "successful",
            "update_heartbeat_interval": max(0.5, self.timeout / 4),
            "stalled_worker_timeout": self.timeout,
            "fetch_job_polling_interval": 1.0 if self.once else 5.0,
        }


def serve(settings: Settings, store: Store, jobs: Mapping[str, JobFn], *, once: bool,
          now: datetime | None = None) -> list[str]:
    """`run` and `run --once` with schedule.engine = "procrastinate"; the ids of the jobs that failed here."""
    logging.getLogger("procrastinate").setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
    from procrastinate.exceptions import ConnectorException

    cluster = Cluster(settings, store, jobs, once=once, now=now)
    try:
        return asyncio.run(cluster.work(now))
    except ConnectorException as exc:  # the database went away under the worker
        raise ScheduleError(f"the job queue in {safe_url(settings.store_url)}: {exc}") from None
