"""The four scheduled jobs: when each one runs, and what it does.

    poll    every schedule.poll_minutes: fetch new mail over IMAP
    draft   on schedule.draft_cron: draft the last complete week and ask the chair
            to review it; below digest.min_messages, tell the chair the week is skipped
    remind  on schedule.remind_cron: one reminder per draft still unapproved at its deadline
    send    on schedule.send_cron: send every approved digest

A job is a function of a `JobRun` returning the one line logged for the run;
bot.schedule.runner decides when it runs and makes sure it runs once. The live jobs
are thin adapters over bot.imap.poll, bot.review.lifecycle, bot.review.notify and bot.delivery.send;
their SMTP and IMAP transports can be swapped for fakes (`Transports`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.errors import ConfigError, DigestbotError, ReviewError
from bot.settings import Settings
from bot.store.database import Store

if TYPE_CHECKING:
    from bot.delivery.smtp import Mailer

JOB_ORDER = ("poll", "draft", "remind", "send")  # when several are due: fresh mail first, sending last
# Poll times count from here, so they fall on :00, :15, ... whenever the bot was started.
EPOCH = datetime(2000, 1, 3, tzinfo=UTC)
CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab counts 0 (and 7) as Sunday


class Skipped(DigestbotError):
    """The job found nothing it may do (e.g. the week is already approved): a warning, not a failure."""


@dataclass(frozen=True, slots=True)
class JobRun:
    """What a job gets: where to work, and which scheduled time this run is for."""

    settings: Settings
    store: Store
    job_id: str
    due: datetime  # the fire time this run is for, in schedule.timezone (the newest, when coalesced)
    now: datetime  # when the run started, in UTC


JobFn = Callable[[JobRun], str]


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: str
    trigger: BaseTrigger
    label: str  # "cron 0 8 * * tue"
    key: str  # label and timezone: a job whose key changed is rescheduled from now
    grace: int | None  # APScheduler's misfire_grace_time in seconds; None: run however late


class WallClockCron(CronTrigger):  # type: ignore[misc]
    """A cron trigger that fires at most once per wall-clock time.

    APScheduler 3 fires "30 1 * * sun" twice in Europe/London on the night the
    clocks go back (01:30 BST, then 01:30 GMT), which would draft a week twice.
    A crontab speaks of wall-clock times, so the wall clock must move forward
    from one fire time to the next: the repeat is dropped (and a job due more
    often than hourly pauses for the repeated hour). A time the clocks skip in
    spring is moved to the next valid instant by APScheduler: no week is lost.
    """

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        following: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        while following is not None and previous_fire_time is not None \
                and self._wall(following) <= self._wall(previous_fire_time):
            following = super().get_next_fire_time(following, following)
        return following

    def _wall(self, moment: datetime) -> datetime:
        return moment.astimezone(self.timezone).replace(tzinfo=None)


def job_specs(settings: Settings) -> dict[str, JobSpec]:
    """The jobs as the config describes them; ConfigError names a bad key."""
    conf = settings.schedule
    zone = ZoneInfo(conf.timezone)
    if conf.poll_minutes < 1:
        raise ConfigError("schedule.poll_minutes: must be at least 1")
    # Poll and send recur within minutes: a run later than the grace is dropped and
    # the next one does its work. A weekly draft or a daily reminder dropped would be
    # lost, so those run once however late (also after the bot was down for days).
    grace = conf.misfire_grace_seconds if conf.misfire_grace_seconds > 0 else None
    poll = IntervalTrigger(minutes=conf.poll_minutes, start_date=EPOCH, timezone=zone)
    specs = [
        ("poll", poll, f"every {conf.poll_minutes} min", grace),
        ("draft", crontab("schedule.draft_cron", conf.draft_cron, zone), f"cron {conf.draft_cron}", None),
        ("remind", crontab("schedule.remind_cron", conf.remind_cron, zone), f"cron {conf.remind_cron}", None),
        ("send", crontab("schedule.send_cron", conf.send_cron, zone), f"cron {conf.send_cron}", grace),
    ]
    return {id_: JobSpec(id_, trigger, label, f"{label} @ {conf.timezone}", g) for id_, trigger, label, g in specs}


def crontab(key: str, expr: str, zone: ZoneInfo) -> WallClockCron:
    """A crontab line ("minute hour day month weekday") read the way cron reads it."""
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(f"{key}: {expr!r}: a crontab line has 5 fields: minute hour day month weekday")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        # cron runs when either matches, APScheduler only when both do: refuse rather than guess.
        raise ConfigError(f"{key}: {expr!r}: restrict the day of the month or the weekday, not both")
    try:
        return WallClockCron(minute=minute, hour=hour, day=day, month=month,
                             day_of_week=crontab_weekdays(weekday), timezone=zone)
    except ValueError as exc:
        raise ConfigError(f"{key}: {expr!r}: {exc}") from None


def crontab_weekdays(field: str) -> str:
    """Crontab's weekday field as day names: APScheduler 3 counts 0 as Monday, crontab as Sunday."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step = part.partition("/")
        first, _, last = span.partition("-")
        if span == "*":
            low, high = 0, 6
        else:
            low = _crontab_day(first)
            high = _crontab_day(last) if last else (6 if step else low)
            high = 7 if high == 0 and low > 0 else high  # "fri-sun"
        if high < low:
            raise ValueError(f"weekday range {span!r} runs backwards")
        days.update(n % 7 for n in range(low, high + 1, int(step or 1)))
    return ",".join(CRONTAB_DAYS[n] for n in sorted(days))


def _crontab_day(token: str) -> int:
    if token in CRONTAB_DAYS:
        return CRONTAB_DAYS.index(token)
    if token.isdigit() and int(token) <= 7:
        return int(token)
    raise ValueError(f"not a weekday: {token!r}")


def draft_period(settings: Settings, due: datetime) -> tuple[datetime, datetime]:
    """The last complete week before `due`: the week of the same weekday a week earlier."""
    from bot.pipeline.digest import period_for

    local = due.astimezone(ZoneInfo(settings.list.timezone))
    return period_for(settings, week_of=local - timedelta(days=7), since=None, until=None)


def period_text(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d}..{end - timedelta(days=1):%Y-%m-%d}"


# -- the ledger: what each job owes, and how it last went ------------------------

ledger_metadata = sa.MetaData()
schedule_runs = sa.Table(
    "schedule_runs", ledger_metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("owed_for", sa.DateTime(timezone=True)),  # fire time of a run that is due and not finished
    sa.Column("started_at", sa.DateTime(timezone=True)),  # set while that run is under way
    sa.Column("last_for", sa.DateTime(timezone=True)),
    sa.Column("last_at", sa.DateTime(timezone=True)),
    sa.Column("last_outcome", sa.String(16)),  # ok | skipped | failed | missed
    sa.Column("last_line", sa.Text),
    sa.Column("failures", sa.Integer, nullable=False, default=0),  # in a row
)


@dataclass(frozen=True, slots=True)
class Owed:
    job_id: str
    due: datetime
    interrupted: bool  # it had started when the process that ran it ended


@dataclass(frozen=True, slots=True)
class LastRun:
    owed_for: datetime | None
    due: datetime | None
    at: datetime | None
    outcome: str
    line: str
    failures: int


class Ledger:
    """The `schedule_runs` table. Every change is one UPDATE (rows exist from the start), so
    the daemon's two threads never turn a read into a write, which SQLite may refuse."""

    def __init__(self, engine: sa.Engine, job_ids: Iterable[str]) -> None:
        self.engine = engine
        ledger_metadata.create_all(engine)
        with engine.begin() as conn:
            have = set(conn.scalars(sa.select(schedule_runs.c.job_id)))
            for job_id in job_ids:
                if job_id not in have:
                    conn.execute(schedule_runs.insert().values(job_id=job_id, failures=0))

    def _update(self, job_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(schedule_runs.update().where(schedule_runs.c.job_id == job_id).values(**values))

    def owe(self, job_id: str, due: datetime) -> None:
        """One owed run per job: a newer due time replaces an older one (coalescing)."""
        due = utc(due)
        owed = schedule_runs.c.owed_for
        self._update(job_id, owed_for=sa.case((owed.is_(None) | (owed < due), due), else_=owed))

    def start(self, job_id: str, at: datetime) -> None:
        self._update(job_id, started_at=utc(at))

    def finish(self, job_id: str, due: datetime, outcome: str, line: str, at: datetime) -> None:
        due = utc(due)
        failures = schedule_runs.c.failures + 1 if outcome == "failed" else 0
        with self.engine.begin() as conn:
            row = schedule_runs.c.job_id == job_id
            conn.execute(schedule_runs.update().where(row).values(
                last_for=due, last_at=utc(at), last_outcome=outcome, last_line=line, started_at=None,
                failures=failures))
            # A newer due time owed meanwhile (by the daemon's scheduler thread) stays owed.
            conn.execute(schedule_runs.update().where(row, schedule_runs.c.owed_for == due).values(owed_for=None))

    def missed(self, job_id: str, due: datetime, at: datetime, line: str) -> None:
        self._update(job_id, last_for=utc(due), last_at=utc(at), last_outcome="missed",
                     last_line=line)

    def owed(self) -> list[Owed]:
        query = sa.select(schedule_runs).where(schedule_runs.c.owed_for.is_not(None))
        with self.engine.connect() as conn:
            return [Owed(r.job_id, utc(r.owed_for), r.started_at is not None) for r in conn.execute(query)]


def last_runs(engine: sa.Engine) -> dict[str, LastRun]:
    """Each job's ledger row, for `digestbot schedule` (nothing is created)."""
    if not sa.inspect(engine).has_table("schedule_runs"):
        return {}
    with engine.connect() as conn:
        return {r.job_id: LastRun(_maybe_utc(r.owed_for), _maybe_utc(r.last_for), _maybe_utc(r.last_at),
                                  r.last_outcome or "", r.last_line or "", r.failures)
                for r in conn.execute(sa.select(schedule_runs))}


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; naive means UTC (SQLite hands back naive datetimes).

    Compare and subtract times in UTC only: Python compares two datetimes of
    the same zone by wall clock, which runs backwards when the clocks go back.
    """
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _maybe_utc(moment: datetime | None) -> datetime | None:
    return utc(moment) if moment is not None else None


# -- the live jobs -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transports:
    """How the live jobs reach the outside; None: the servers in the config."""

    mailer: Mailer | None = None  # an open Mailer, or a fake with its methods
    imap_client: Callable[..., Any] | None = None  # an IMAPClient factory


def live_jobs(transports: Transports | None = None) -> dict[str, JobFn]:
    use = transports or Transports()
    return {"poll": partial(poll_job, use), "draft": partial(draft_job, use),
            "remind": partial(remind_job, use), "send": partial(send_job, use)}


def poll_job(transports: Transports, run: JobRun) -> str:
    from bot.imap.poll import poll

    options: dict[str, Any] = {"client_factory": transports.imap_client} if transports.imap_client else {}
    # The chair's replies and unsubscribes arrive with the poll; notices about them use the job's mailer.
    return f"fetched: {poll(run.settings, mailer=transports.mailer, **options).line()}"


def draft_job(transports: Transports, run: JobRun) -> str:
    from bot.pipeline.digest import build_digest
    from bot.review import lifecycle
    from bot.review.notify import check_ready, request_review, tell_chair

    settings, store = run.settings, run.store
    start, end = draft_period(settings, run.due)
    period = period_text(start, end)
    wanted = settings.digest.min_messages
    count = len(store.mails_between(start, end)) if wanted else 0
    if count < wanted:
        told = tell_chair(settings, f"{settings.list.name}: no digest for {period} ({count} messages)",
                          _skip_note(period, count, wanted), mailer=transports.mailer)
        return (f"skipped {period}: {count} message(s), fewer than digest.min_messages = {wanted}; "
                + ("told the chair" if told else "could not tell the chair"))
    check_ready(settings)  # a missing chair address or secret fails before a draft is stored, not after
    digest = build_digest(store, settings, start, end)
    try:
        info = lifecycle.store_draft(store, settings, digest, lifecycle.SYSTEM, "scheduler")
    except ReviewError as exc:  # approved or sent: never redrafted behind the chair's back
        raise Skipped(f"{period} not redrafted: {exc}") from None
    request_review(store, settings, info.id, actor=lifecycle.SYSTEM, via="scheduler", mailer=transports.mailer)
    replaced = f", superseding #{', #'.join(map(str, info.superseded))}" if info.superseded else ""
    return (f"drafted #{info.id} for {period} ({digest.stats.get('messages', 0)} messages{replaced}); "
            f"review mail sent to the chair")


def _skip_note(period: str, count: int, wanted: int) -> str:
    return (f"The list had {count} message(s) in {period}, fewer than the {wanted} that digest.min_messages\n"
            f"asks for, so no digest was drafted for that week. To draft one anyway:\n\n"
            f"    digestbot draft --week-of {period[:10]} --notify\n")


def remind_job(transports: Transports, run: JobRun) -> str:
    from bot.review.notify import send_reminders

    reminded = send_reminders(run.store, run.settings, mailer=transports.mailer, at=utc(run.now))
    return f"reminded the chair of #{', #'.join(map(str, reminded))}" if reminded else "no draft past its deadline"


def send_job(transports: Transports, run: JobRun) -> str:
    from bot.delivery.send import send_approved
    from bot.review import lifecycle

    if not lifecycle.drafts(run.store, ("approved",)):
        return "nothing approved to send"  # and no SMTP connection for nothing
    report = send_approved(run.store, run.settings, via="scheduler", mailer=transports.mailer,
                           at=utc(run.now))
    return "; ".join(report.lines())
