"""The engine of one instance: each job once per due time, one job at a time.

    digestbot run --once   one pass: every job whose next run time has come runs
                           once (missed runs coalesced), then the process exits
    digestbot run          the same pass at start, catching up on what was missed
                           while the bot was down; then APScheduler's scheduler
                           says when a job is due and the main thread runs it

State lives in the store's database, so a restart neither loses nor repeats:
`apscheduler_jobs` (APScheduler's SQLAlchemy job store: trigger and next run
time of each job) and `schedule_runs` (our ledger: the run a job owes, and its
last outcome). A due run is written to the ledger before the job's next run
time moves on, and leaves it only when the job has finished; a stop or crash
in between leaves it owed, and the next start runs it. Jobs are idempotent,
so a run cut short by kill -9 and repeated does no harm.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from bot.errors import DigestbotError, ScheduleError
from bot.schedule.jobs import JobFn, JobRun, JobSpec, Skipped, utc
from bot.schedule.lists import ListLedger, all_job_specs, split
from bot.settings import Settings
from bot.store.database import Store

log = logging.getLogger("digestbot.schedule")
# What the job store names as each job's function: the module the jobs of existing stores were saved under
# (bot/schedule/runner.py re-exports job_target).
TARGET = "bot.schedule.runner:job_target"
OWED_BATCH = 500  # owed runs read at a time (the drain): 10,000 lists owe 10,000 drafts at once


def job_target(job_id: str) -> None:
    """What the job store names as each job's function; the scheduler never calls it (see _Owe)."""
    raise ScheduleError(f"job {job_id} runs through `digestbot run`, not by calling it")


def due_runs(trigger: BaseTrigger, next_run: datetime | None, now: datetime) -> list[datetime]:
    """Every fire time from `next_run` up to `now`, oldest first (APScheduler's rule, compared in UTC)."""
    fire_times: list[datetime] = []
    now = utc(now)
    while next_run is not None and utc(next_run) <= now:
        fire_times.append(next_run)
        next_run = trigger.get_next_fire_time(next_run, now)
    return fire_times


class _Owe(BaseExecutor):  # type: ignore[misc]
    """The daemon's executor: a due job is written to the ledger, and the main thread runs it.

    So jobs run one at a time, never in APScheduler's threads, and a stop
    leaves what has not started in the ledger instead of losing it.
    """

    def __init__(self, runner: Runner) -> None:
        super().__init__()
        self.runner = runner

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        self.runner.owe(job.id, job.misfire_grace_time, run_times, self.runner.clock())
        self.runner.wake.set()
        self._run_job_success(job.id, [])


class Runner:
    """Runs the due jobs of one store; the engine of `run` and `run --once`."""

    def __init__(self, settings: Settings, store: Store, jobs: Mapping[str, JobFn], *, now: datetime | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.settings, self.store, self.jobs = settings, store, jobs
        self.zone = ZoneInfo(settings.schedule.timezone)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.specs = all_job_specs(settings)  # with [[lists]]: one poll, and each list's own jobs
        self.stop = threading.Event()  # set by SIGTERM / Ctrl-C: finish the current job, start no other
        self.wake = threading.Event()
        self.failed: list[str] = []
        self.batch = OWED_BATCH
        self.ledger = ListLedger(store, settings.lists[0].store_list, qualified=bool(settings.entries))
        self.ledger.prepare(self.specs)
        self.jobstore = store.ledger.job_store()
        grace = self.specs["poll"].grace  # the configured one; each job also carries its own
        # UTC, not schedule.timezone: APScheduler compares its `now` with fire times of the
        # schedule's zone, and two times of one zone compare by wall clock (see jobs.utc).
        self.scheduler = BackgroundScheduler(
            jobstores={"default": self.jobstore}, executors={"default": _Owe(self)}, timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace})
        self.jobstore.start(self.scheduler, "default")
        self._sync(utc(now or self.clock()))

    # -- the job store ------------------------------------------------------------

    def _job(self, spec: JobSpec, next_run: datetime | None) -> Job:
        return Job(self.scheduler, id=spec.id, func=TARGET, args=(spec.id,), kwargs={}, trigger=spec.trigger,
                   executor="default", name=spec.key, misfire_grace_time=spec.grace, coalesce=True,
                   max_instances=1, next_run_time=next_run)

    def _sync(self, now: datetime) -> None:
        """Make the job store match the config, keeping each unchanged job's next run time.

        The stored jobs are read a chunk at a time (store.ledger.job_states), and one whose schedule, grace
        and target are the config's is left as it is: a pass over 10,000 lists rewrote 30,000 jobs.
        """
        stored: set[str] = set()
        for job_id, old in self.store.ledger.job_states():
            spec = self.specs.get(job_id)
            if spec is None:
                self.jobstore.remove_job(job_id)
                continue
            stored.add(spec.id)
            next_run = old["next_run_time"]
            if old["name"] != spec.key:
                if next_run is not None and utc(next_run) <= now:  # due under the old schedule: still owed once
                    self.owe(spec.id, spec.grace, [next_run], now)
                next_run = spec.trigger.get_next_fire_time(None, now)
                log.info("%s: schedule changed to %s; next run %s", spec.id, spec.key, self.fmt(next_run))
            elif old["misfire_grace_time"] == spec.grace and old["func"] == TARGET:
                continue
            self.jobstore.update_job(self._job(spec, next_run))
        for spec in self.specs.values():
            if spec.id not in stored:
                # A new bot with a mailbox polls it at once, not an interval later: its store starts full.
                polls_now = spec.id == "poll" and bool(self.settings.source.host)
                first = now if polls_now else spec.trigger.get_next_fire_time(None, now)
                self.jobstore.add_job(self._job(spec, first))

    def next_run(self, job_id: str) -> datetime | None:
        job = self.jobstore.lookup_job(job_id)
        return job.next_run_time if job is not None else None

    # -- owing and running ----------------------------------------------------------

    def collect(self, now: datetime) -> None:
        """Owe one run of every job whose next run time has come, and move that time on."""
        for job_id, next_run in self.store.ledger.job_times(due_by=now):  # a chunk read at a time
            spec = self.specs[job_id]
            # In the trigger's zone, as APScheduler keeps it: fire times step by that zone's wall clock.
            fire_times = due_runs(spec.trigger, next_run and next_run.astimezone(spec.trigger.timezone), now)
            if fire_times:
                self.owe(spec.id, spec.grace, fire_times, now)
                self.jobstore.update_job(self._job(spec, spec.trigger.get_next_fire_time(fire_times[-1], now)))

    def owe(self, job_id: str, grace: int | None, fire_times: list[datetime], now: datetime) -> None:
        latest = fire_times[-1]  # coalesce: missed runs become one, for the newest time
        late = (utc(now) - utc(latest)).total_seconds()
        if grace is not None and late > grace:
            line = f"the run due {self.fmt(latest)} started {late:.0f}s late (grace {grace}s): dropped"
            log.warning("%s: %s; the next run does its work", job_id, line)
            self.ledger.missed(job_id, latest, now, line)
            return
        if len(fire_times) > 1:
            log.info("%s: %d runs were missed; running once, for %s", job_id, len(fire_times), self.fmt(latest))
        self.ledger.owe(job_id, latest)

    def drain(self) -> None:
        """Run every owed job, in JOB_ORDER, until none is left or a stop was asked for.

        What is owed is read once a batch, not once a job: with [[lists]] a pass can owe a draft
        for each of 10,000 lists, and reading them all again after each one was quadratic. A batch
        is the first `batch` of them (the store orders them), so memory does not grow with the lists. A run
        owed meanwhile (the daemon's scheduler thread sets `wake`) starts a new batch after the
        current job, so it still goes before the batch's later jobs when JOB_ORDER says so.
        """
        while True:
            self.wake.clear()
            owed = self.ledger.owed_first(self.batch)
            if not owed:
                return
            for index, first in enumerate(owed):
                if self.stop.is_set():
                    log.info("stopping; left for the next start: %s", ", ".join(o.job_id for o in owed[index:]))
                    return
                if self.wake.is_set():
                    break
                if split(first.job_id)[0] not in self.jobs or first.job_id not in self.specs:  # or a list gone
                    self.ledger.finish(first.job_id, first.due, "skipped", "no such job", self.clock())
                    continue
                if first.interrupted:
                    log.warning("%s: the run due %s was cut short last time; running it again",
                                first.job_id, self.fmt(first.due))
                self.run_owed(first.job_id, first.due)

    def run_owed(self, job_id: str, due: datetime) -> None:
        """Run the run `job_id` owes for `due`, and record how it went (a failure is logged, never raised)."""
        started = self.clock()
        self.ledger.start(job_id, started)
        took = time.monotonic()
        outcome, level = "ok", logging.INFO
        job, name = split(job_id)  # a list's own job runs on that list's settings and rows
        settings = self.settings.for_list(name) if name else self.settings
        store = self.store.for_list(settings.store_list) if name else self.store
        try:
            zone = ZoneInfo(settings.schedule.timezone) if name else self.zone  # [lists.schedule] may differ
            # config: a list's draft polls the whole config once for every list due (bot.schedule.jobs.LastPoll)
            line = self.jobs[job](JobRun(settings, store, job, due.astimezone(zone), started, config=self.settings))
        except Skipped as exc:
            line, outcome, level = str(exc), "skipped", logging.WARNING
        except Exception as exc:  # one job failing must not stop the others, nor the daemon
            line = str(exc) if isinstance(exc, DigestbotError) else f"{exc.__class__.__name__}: {exc}"
            outcome, level = "failed", logging.ERROR
            log.debug("%s: traceback", job_id, exc_info=True)
            self.failed.append(job_id)
        self.ledger.finish(job_id, due, outcome, line, self.clock())
        if outcome == "failed":
            line = f"failed: {line}; next try {self.fmt(self.next_run(job_id))}"
        log.log(level, "%s (due %s): %s [%.1fs]", job_id, self.fmt(due), line, time.monotonic() - took)
        if outcome == "failed" and name:  # the other lists go on; this one's chair is told
            _tell_chair(settings, self.settings, job, line)

    def run_pass(self, now: datetime | None = None) -> list[str]:
        """`run --once`: owe what is due at `now`, run everything owed; the ids of the jobs that failed."""
        self.failed = []
        self.collect(utc(now or self.clock()))
        self.drain()
        return self.failed

    def serve(self) -> None:
        """`run`: catch up, then run jobs as APScheduler finds them due, until stopped."""
        self.run_pass()
        if self.stop.is_set():
            return
        self.scheduler.start()
        log.info("running; SIGTERM or Ctrl-C stops it after the current job")
        for spec in self.specs.values():
            log.info("%s: %s, next run %s", spec.id, spec.label, self.fmt(self.next_run(spec.id)))
        try:
            while not self.stop.is_set():
                self.wake.wait(60)  # the timeout is a safety net; owed runs are picked up either way
                self.wake.clear()
                self.drain()
                if not self.stop.is_set() and not _alive(self.scheduler):
                    # Exit non-zero so systemd restarts us (and the restart catches up).
                    raise ScheduleError("the scheduler thread died; see the log above")
        finally:
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)

    def fmt(self, moment: datetime | None) -> str:
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z") if moment else "never"


def _tell_chair(settings: Settings, whole: Settings, job: str, line: str) -> None:
    """Best effort (bot.review.notify.tell_chair logs what it cannot send); when the list's own [lists.smtp]
    is what failed, through the config's [smtp]."""
    from dataclasses import replace

    from bot.review.notify import tell_chair

    name = settings.list.name
    subject = f"{name}: the {job} job failed"
    body = (f"digestbot's {job} job for the list {name} failed:\n\n    {line}\n\n"
            "The other lists are not affected. The job runs again at its next time; see `digestbot schedule`.\n")
    if not tell_chair(settings, subject, body) and settings.smtp != whole.smtp:
        tell_chair(replace(settings, smtp=whole.smtp), subject, body)


def _alive(scheduler: BackgroundScheduler) -> bool:
    thread = getattr(scheduler, "_thread", None)  # APScheduler 3 keeps its thread here
    return thread is None or bool(thread.is_alive())


