"""The real jobs on a simulated month: IMAP and SMTP are recording fakes, everything else is real.

The clock is time-machine's: each pass of the scheduler runs at its simulated
hour, and so do the review and send code it calls (deadlines, reminders).
"""

from __future__ import annotations

import email
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from bot.errors import ReviewError
from bot.mail.ingest import ingest
from bot.mail.smtp import Outcome, Result
from bot.model import RawMail
from bot.review import lifecycle
from bot.schedule.jobs import JobFn, JobRun, Skipped, Transports, draft_job, live_jobs
from bot.schedule.runner import Runner
from bot.settings import (
    DigestSettings,
    ListSettings,
    ReviewSettings,
    ScheduleSettings,
    Settings,
    SmtpSettings,
    StoreSettings,
)
from bot.store.database import Store, open_store
from tests.helpers.mailfactory import make_raw

LONDON = ZoneInfo("Europe/London")
CHAIR = "chair@example.org"


def london(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=LONDON)


class FakeMailer:
    """Records what would have gone out: ("review" | "reminder" | "notice" | "digest", recipient, subject)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def send_message(self, msg: email.message.EmailMessage, recipients: list[str]) -> None:
        subject = str(msg["Subject"])
        kind = "reminder" if subject.startswith("Reminder: ") else "notice" if subject.startswith("[digestbot]") \
            else "review"
        self.sent.extend((kind, recipient, subject) for recipient in recipients)

    def deliver(self, raw: bytes, sender: str, recipient: str, *,
                before_data: Callable[[], None] = lambda: None) -> Result:
        before_data()
        self.sent.append(("digest", recipient, str(email.message_from_bytes(raw, policy=policy.default)["Subject"])))
        return Result(Outcome.SENT)

    def kinds(self) -> Counter[str]:
        return Counter(kind for kind, _, _ in self.sent)


class FakeList:
    """The list's traffic; the poll job fetches what has been posted by the time it runs."""

    def __init__(self, per_week: dict[datetime, int]) -> None:
        self.mails: list[tuple[datetime, bytes]] = []
        for monday, count in per_week.items():
            for i in range(count):
                when = monday + timedelta(days=i % 5, hours=10 + i)
                n = len(self.mails) + 1
                body = f"Point {n}: we should ship the {n}th change before the release.\n"
                self.mails.append((when, make_raw(n, subject=f"Topic {monday:%d %b}", body=body,
                                                  reply_to=n - 1 if i else None, when=when.astimezone(UTC))))
        self.mails.sort()
        self.fetched = 0

    def poll(self, run: JobRun) -> str:
        due = []
        while self.fetched < len(self.mails) and self.mails[self.fetched][0] <= run.now:
            due.append(self.mails[self.fetched][1])
            self.fetched += 1
        report = ingest(run.store, [RawMail(raw, "fake-imap") for raw in due], run.settings.limits, expected=len(due))
        return f"fetched: {report.line()}"


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DIGESTBOT_TEST_SECRET", "s3cret-for-the-approval-tokens")
    return Settings(
        config_path=str(tmp_path / "digestbot.toml"),
        list=ListSettings(name="dev", address="dev@lists.example.org", timezone="Europe/London",
                          archive_url="https://archive.example.org/{message_id}"),
        store=StoreSettings(path="store.sqlite3"),
        digest=DigestSettings(chair="Ann Chair", chair_address=CHAIR, min_messages=3),
        smtp=SmtpSettings(host="smtp.example.org", from_address="digestbot@example.org"),
        review=ReviewSettings(chair_addresses=(CHAIR,), secret_env="DIGESTBOT_TEST_SECRET", send_deadline_hours=48),
        schedule=ScheduleSettings(timezone="Europe/London"),  # drafts Tuesdays 08:00, reminds daily 09:00
    )


def jobs_with(mailer: FakeMailer, mailing_list: FakeList) -> dict[str, JobFn]:
    jobs = live_jobs(Transports(mailer=mailer))  # type: ignore[arg-type]
    jobs["poll"] = mailing_list.poll
    return jobs


def hours(start: datetime, end: datetime) -> Iterator[datetime]:
    now = start.astimezone(UTC)
    while now < end.astimezone(UTC):
        now += timedelta(hours=1)
        yield now


def draft_of(store: Store, week: datetime) -> lifecycle.Draft:
    [found] = [d for d in lifecycle.drafts(store) if d.period_start == week and d.state != "superseded"]
    return found


def test_a_month_one_draft_per_week_one_reminder_per_unapproved_draft_one_send_per_approval(
        settings: Settings) -> None:
    mailing_list = FakeList({london(2024, 9, 30): 6, london(2024, 10, 7): 5, london(2024, 10, 14): 1,
                             london(2024, 10, 21): 4, london(2024, 10, 28): 3})
    mailer = FakeMailer()
    # The chair approves the first and the third digest before their deadline, never the second.
    approvals = {london(2024, 10, 8, 12): london(2024, 9, 30), london(2024, 10, 30, 18): london(2024, 10, 21)}
    start, end = london(2024, 10, 1), london(2024, 11, 1)
    store = open_store(settings.store_url)
    bot = Runner(settings, store, jobs_with(mailer, mailing_list), now=start)
    for now in hours(start, end):
        with time_machine.travel(now, tick=False):
            if now.astimezone(LONDON).hour == 7 and now.day == 16:  # a restart in the middle of it
                store.engine.dispose()
                store = open_store(settings.store_url)
                bot = Runner(settings, store, jobs_with(mailer, mailing_list))
            if now in approvals:
                lifecycle.approve(store, draft_of(store, approvals[now]).id, CHAIR, "email")
            assert bot.run_pass() == []

    weeks = {d.period_start.astimezone(LONDON).date().isoformat(): d.state for d in lifecycle.drafts(store)}
    # 23 Sep and 14 Oct had fewer than 3 messages: no draft, the chair was told instead.
    assert weeks == {"2024-09-30": "sent", "2024-10-07": "awaiting", "2024-10-21": "sent"}
    assert mailer.kinds() == Counter({"review": 3, "notice": 2, "reminder": 1, "digest": 2})
    assert [s for kind, _, s in mailer.sent if kind == "notice"] == [
        "[digestbot] dev: no digest for 2024-09-23..2024-09-29 (0 messages)",
        "[digestbot] dev: no digest for 2024-10-14..2024-10-20 (1 messages)"]
    [reminder] = [s for kind, _, s in mailer.sent if kind == "reminder"]
    assert f"#{draft_of(store, london(2024, 10, 7)).id}" in reminder
    assert [(to, s.split(" (")[0]) for kind, to, s in mailer.sent if kind == "digest"] == [
        ("dev@lists.example.org", "[dev] Weekly Meeting: 2024-10-06"),
        ("dev@lists.example.org", "[dev] Weekly Meeting: 2024-10-27")]
    store.engine.dispose()


def test_drafting_a_week_twice_supersedes_and_never_redrafts_an_approved_week(settings: Settings) -> None:
    store = open_store(settings.store_url)
    mailer = FakeMailer()
    FakeList({london(2024, 10, 21): 4}).poll(JobRun(settings, store, "poll", london(2024, 10, 29), london(2024, 11, 1)))
    tuesday = london(2024, 10, 29, 8)

    def draft() -> str:
        return draft_job(Transports(mailer=mailer), JobRun(settings, store, "draft", tuesday, tuesday))  # type: ignore[arg-type]

    first = draft()
    assert first.startswith("drafted #1 for 2024-10-21..2024-10-27 (4 messages)")
    assert draft().startswith("drafted #2 for 2024-10-21..2024-10-27 (4 messages, superseding #1)")
    assert [(d.id, d.state) for d in lifecycle.drafts(store)] == [(1, "superseded"), (2, "awaiting")]
    lifecycle.approve(store, 2, CHAIR, "email")
    with pytest.raises(Skipped, match=r"2024-10-21\.\.2024-10-27 not redrafted: .*already approved as #2"):
        draft()
    assert [(d.id, d.state) for d in lifecycle.drafts(store)] == [(1, "superseded"), (2, "approved")]
    assert mailer.kinds() == Counter({"review": 2})
    with pytest.raises(ReviewError):  # and the chair's approval stands
        lifecycle.approve(store, 1, CHAIR, "email")
    store.engine.dispose()
