"""The four scheduled jobs: when each one runs, and what it does.

    poll    every schedule.poll_minutes: fetch new mail over IMAP
    draft   on schedule.draft_cron: poll (one poll serves every list's draft due before it
            began: `LastPoll`), draft the last complete week and ask the chair
            to review it; below digest.min_messages, tell the chair the week is skipped
    remind  on schedule.remind_cron: one reminder per draft still unapproved at its deadline
    send    on schedule.send_cron: send every approved digest; then, with publish.dir set,
            bring the public archive up to date (bot/publish)

A job is a function of a `JobRun` returning the one line logged for the run;
bot.schedule.runner decides when it runs and makes sure it runs once. The live jobs
are thin adapters over bot.imap.poll, bot.review.lifecycle, bot.review.notify and bot.delivery.send;
their SMTP and IMAP transports can be swapped for fakes (`Transports`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.crontab import crontab_fields
from bot.errors import ConfigError, DigestbotError, ReviewError
from bot.settings import Settings
from bot.store.database import Store
from bot.store.ledger import LastRun as LastRun
from bot.store.ledger import Owed as Owed

if TYPE_CHECKING:
    from bot.mail.smtp import Mailer

JOB_ORDER = ("poll", "draft", "remind", "send")  # when several are due: fresh mail first, sending last
# Poll times count from here, so they fall on :00, :15, ... whenever the bot was started.
EPOCH = datetime(2000, 1, 3, tzinfo=UTC)


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
    config: Settings | None = None  # the whole config, when `settings` is one [[lists]] entry's view; None: settings


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
    try:
        return WallClockCron(**crontab_fields(expr)._asdict(), timezone=zone)
    except ValueError as exc:
        raise ConfigError(f"{key}: {expr!r}: {exc}") from None


def draft_period(settings: Settings, due: datetime) -> tuple[datetime, datetime]:
    """The last complete week before `due`: the week of the same weekday a week earlier."""
    from bot.pipeline.digest import period_for

    local = due.astimezone(ZoneInfo(settings.list.timezone))
    return period_for(settings, week_of=local - timedelta(days=7), since=None, until=None)


def period_text(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d}..{end - timedelta(days=1):%Y-%m-%d}"


# -- times: the ledger (bot.store.ledger) keeps them in UTC, and so does every comparison --


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; naive means UTC (SQLite hands back naive datetimes).

    Compare and subtract times in UTC only: Python compares two datetimes of
    the same zone by wall clock, which runs backwards when the clocks go back.
    """
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- the live jobs -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transports:
    """How the live jobs reach the outside; None: the servers in the config."""

    mailer: Mailer | None = None  # an open Mailer, or a fake with its methods
    imap_client: Callable[..., Any] | None = None  # an IMAPClient factory


class LastPoll:
    """When the newest poll of the whole config that succeeded began (the runner's clock, UTC).

    Shared by the jobs of one `live_jobs`: a draft due before that time needs no
    poll of its own, so many lists due at once are drafted after one IMAP login.
    """

    def __init__(self) -> None:
        self.started: datetime | None = None


def live_jobs(transports: Transports | None = None) -> dict[str, JobFn]:
    use, last_poll = transports or Transports(), LastPoll()
    return {"poll": partial(poll_job, use, last_poll=last_poll), "draft": partial(draft_job, use, last_poll=last_poll),
            "remind": partial(remind_job, use), "send": partial(send_job, use)}


def poll_job(transports: Transports, run: JobRun, *, last_poll: LastPoll | None = None) -> str:
    from bot.review.inbox import poll_list as poll

    options: dict[str, Any] = {"client_factory": transports.imap_client} if transports.imap_client else {}
    # The chair's replies and unsubscribes arrive with the poll; notices about them use the job's mailer.
    line = f"fetched: {poll(run.settings, mailer=transports.mailer, **options).line()}"
    if last_poll is not None and (run.config is None or run.settings is run.config):  # every folder: the whole config
        # run.now is taken before the poll begins: the recorded start is never later than the real one.
        last_poll.started = utc(run.now)
    return line


def _fresh_store(transports: Transports, run: JobRun, last_poll: LastPoll | None) -> str:
    """A poll that began at or after the draft's due time: this run's own, or one that already did (see LastPoll).

    The poll reads the whole config (every list's folders and the bot's own), so it
    serves the other lists' drafts due before it began too.
    """
    began = last_poll.started if last_poll is not None else None
    if began is not None and began >= utc(run.due):
        return f"fetched: by the poll begun {began:%H:%M:%S} UTC, after this run's due time"
    return poll_job(transports, replace(run, settings=run.config or run.settings), last_poll=last_poll)


def draft_job(transports: Transports, run: JobRun, *, last_poll: LastPoll | None = None) -> str:
    from bot.pipeline.digest import build_digest
    from bot.pipeline.followup import mails_to_cover
    from bot.review import lifecycle
    from bot.review.notify import check_ready, request_review, tell_chair

    settings, store = run.settings, run.store
    # Never on a stale store: a reply that reached the mailbox since the last poll belongs in this draft.
    fetched = f"{_fresh_store(transports, run, last_poll)}; " if settings.source.host else ""
    start, end = draft_period(settings, run.due)
    period = period_text(start, end)
    wanted = settings.digest.min_messages
    # A skipped week's messages are taken by no digest: the next one takes them as late mail,
    # also when no digest was ever drafted (the store remembers the skip: bot/store/minutes.py LATE_SQL).
    count = sum(map(len, mails_to_cover(store, start, end))) if wanted else 0
    if count < wanted:
        store.coverage.skip(start)
        told = tell_chair(settings, f"{settings.list.name}: no digest for {period} ({count} messages)",
                          _skip_note(period, count, wanted), mailer=transports.mailer)
        return (f"{fetched}skipped {period}: {count} message(s), fewer than digest.min_messages = {wanted}; "
                + ("told the chair" if told else "could not tell the chair"))
    check_ready(settings)  # a missing chair address or secret fails before a draft is stored, not after
    digest = build_digest(store, settings, start, end)
    try:
        info = lifecycle.store_draft(store, settings, digest, lifecycle.SYSTEM, "scheduler")
    except ReviewError as exc:  # approved or sent: never redrafted behind the chair's back
        raise Skipped(f"{period} not redrafted: {exc}") from None
    request_review(store, settings, info.id, actor=lifecycle.SYSTEM, via="scheduler", mailer=transports.mailer)
    replaced = f", superseding #{', #'.join(map(str, info.superseded))}" if info.superseded else ""
    report = digest.model_report  # strategy = "llm": the items the model did not write (the review mail says why)
    extractive = f"; {len(report.fallbacks)} item(s) extractive instead" if report and report.fallbacks else ""
    late = f", {len(digest.coverage.late)} late" if digest.coverage and digest.coverage.late else ""
    return (f"{fetched}drafted #{info.id} for {period} ({digest.stats.get('messages', 0)} messages{late}{replaced}"
            f"{extractive}); "
            f"review mail sent to the chair")


def _skip_note(period: str, count: int, wanted: int) -> str:
    return (f"The list had {count} message(s) in {period}, fewer than the {wanted} that digest.min_messages\n"
            f"asks for, so no digest was drafted for that week; they go into the next digest.\n"
            f"To draft one for that week anyway:\n\n"
            f"    digestbot draft --week-of {period[:10]} --notify\n")


def remind_job(transports: Transports, run: JobRun) -> str:
    from bot.review.notify import send_reminders

    reminded = send_reminders(run.store, run.settings, mailer=transports.mailer, at=utc(run.now))
    return f"reminded the chair of #{', #'.join(map(str, reminded))}" if reminded else "no draft past its deadline"


def send_job(transports: Transports, run: JobRun) -> str:
    from bot.delivery.send import send_approved
    from bot.review import lifecycle

    if not lifecycle.drafts(run.store, ("approved",)):
        return _then_publish(run, "nothing approved to send")  # and no SMTP connection for nothing
    report = send_approved(run.store, run.settings, via="scheduler", mailer=transports.mailer,
                           at=utc(run.now))
    return _then_publish(run, "; ".join(report.lines()))


def _then_publish(run: JobRun, sent: str) -> str:
    """With publish.dir set, the archive follows every send run (bot/publish/site.py).

    Also when nothing was sent: it writes only what changed, so a publish that
    failed last time is made up for by the next run.
    """
    from bot.errors import PublishError
    from bot.publish.site import publish

    folder = run.settings.publish.dir
    if not folder:
        return sent
    try:
        report = publish(run.store, run.settings, Path(folder))
    except PublishError as exc:
        raise PublishError(f"{sent}; the archive was not published: {exc}") from None
    return f"{sent}; archive: {len(report.written)} file(s) written, {report.unchanged} unchanged"
