"""Minutes that remember, end to end: a real Dovecot mailbox, a real SMTP server, the real CLI.

Four weeks of a list, 18 Aug to 14 Sep 2014, drafted as they end:
  week A  three ACTION: lines; drafted by the scheduler's draft job, which polls first
  week B  a reply dated in week A arrives late; Dave's DONE: line closes his action, a stranger's
          DONE: line closes nothing (the chair is told); the chair replies `done 3`, and `done 99`
  week C  one message: skipped by digest.min_messages (the chair is told), rolled into week D
  week D  `digestbot actions done 1` closed the last one; week C's message comes in late
Every list message is in exactly one sent digest; each action is carried until closed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.review import lifecycle
from bot.schedule.jobs import JobRun, Transports, draft_job
from bot.settings import Settings, load_settings
from bot.store.database import Store, open_store
from tests.helpers.dovecot import Dovecot
from tests.helpers.mailfactory import make_raw
from tests.helpers.reviewkit import LIST, notices, reply, review_mails, text_of, write_config
from tests.helpers.smtp_server import SmtpServer
from tests.test_review_dovecot import PASSWORD_ENV, digestbot, ok, source_config

DAVE, ANIL = "Dave Scott <dave@example.org>", "Anil Madhavapeddy <anil@example.org>"
MAYA = "Maya Okafor <maya@example.org>"
MALLORY = "Mallory Mole <mallory@example.net>"


def at(day: int, hour: int = 10, month: int = 8) -> datetime:
    return datetime(2014, month, day, hour, tzinfo=UTC)


@pytest.fixture()
def env(tmp_path: Path, smtp_server: SmtpServer, dovecot: Dovecot, review_secret: str,
        monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Store]:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    config = write_config(tmp_path, smtp_server, source=source_config(dovecot))
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[digest]\n", "[digest]\nmin_messages = 2\n"), encoding="utf-8")
    settings = load_settings(config)
    assert settings.digest.min_messages == 2
    return settings, open_store(settings.store_url, settings.store_list)  # the list the CLI's commands see


def scheduled_draft(settings: Settings, store: Store, due: datetime) -> str:
    """The scheduler's draft job, due at `due` (it drafts the week before), with the live transports."""
    return draft_job(Transports(), JobRun(settings, store, "draft", due, datetime.now(UTC)))


def flat(text: str) -> str:
    """The text with its line breaks (the 72-column wrap) as spaces."""
    return " ".join(text.split())


def newest_review(server: SmtpServer) -> EmailMessage:
    return review_mails(server)[-1]


def sent_digest(server: SmtpServer) -> str:
    return text_of([got for got in server.received if LIST in got.rcpt_tos][-1].message)


@pytest.mark.timeout(300)
def test_three_weeks_late_mail_and_actions_carried_until_done(env: tuple[Settings, Store], smtp_server: SmtpServer,
                                                              dovecot: Dovecot) -> None:
    settings, store = env
    # -- week A: three actions; the scheduled draft polls the mailbox itself ----------------
    week_a = [
        make_raw(1, subject="Conduit merge", sender=DAVE, when=at(18),
                 body="The conduit layer is merged.\n\nACTION: Dave to add vchan support.\n"),
        make_raw(2, subject="Conduit merge", sender=ANIL, when=at(19), reply_to=1,
                 body="Works for me on ARM.\n\nACTION: I will write the release notes for 0.9.\n"),
        make_raw(3, subject="DevSummit", sender=MAYA, when=at(20),
                 body="The summit is in October.\n\nACTION: Maya to book the room for the summit.\n"),
    ]
    dovecot.deliver("INBOX", week_a)
    line = scheduled_draft(settings, store, at(26, 8))
    assert line.startswith("fetched: INBOX: 3 new") and "drafted #1 for 2014-08-18..2014-08-24 (3 messages)" in line
    review_a = newest_review(smtp_server)
    assert "Coverage: 3 messages in the period, 0 late, 0 left out; 3 in this digest." in text_of(review_a)
    assert "No open actions." in text_of(review_a)
    assert "Action #2: Dave Scott, add vchan support" in text_of(review_a)
    dovecot.deliver("INBOX", [reply(review_a, "approve\n")])
    assert "1 approved" in ok(digestbot(settings, "poll"))
    assert "(done)" in ok(digestbot(settings, "send"))
    actions = json.loads(ok(digestbot(settings, "actions", "--format", "json")))["actions"]
    assert [(a["id"], a["who"], a["state"]) for a in actions] == [
        (1, "Maya Okafor", "open"), (2, "Dave Scott", "open"), (3, "Anil Madhavapeddy", "open")]

    # -- week B: a late reply to week A; DONE: lines; the chair's `done 3` -------------------
    late = make_raw(4, subject="Re: Conduit merge", sender=MAYA, when=at(24, 23), reply_to=1,
                    body="One more thing: the docs need the new module names.\n")
    week_b = [
        make_raw(5, subject="vchan", sender=DAVE, when=at(26),
                 body="Pushed to master.\n\nDONE: add vchan support\n"),
        make_raw(6, subject="Release notes", sender=MALLORY, when=at(27),
                 body="I think these are finished.\n\nDONE: wrote the release notes for 0.9\n"),
        make_raw(7, subject="Irmin status", sender=ANIL, when=at(28), body="Irmin 0.9 is tagged.\n"),
    ]
    dovecot.deliver("INBOX", [late, *week_b])
    ok(digestbot(settings, "poll"))
    drafted = digestbot(settings, "draft", "--week-of", "2014-08-27", "--notify")
    assert drafted.returncode == 0, drafted.stderr
    review_b = newest_review(smtp_server)
    text_b = flat(text_of(review_b))
    assert "Coverage: 3 messages in the period, 1 late, 0 left out; 4 in this digest." in text_b
    assert "(late reply to last week's thread)" in text_b
    assert "#3 Anil Madhavapeddy: write the release notes for 0.9 (open since 18 August, 1 week)" in text_b
    assert "#2 Dave Scott: add vchan support (closed by Dave Scott)" in text_b  # his DONE: line
    assert "Mallory Mole" in text_b and "names #3, owned by Anil Madhavapeddy" in text_b  # told, not closed
    dovecot.deliver("INBOX", [reply(review_b, "done 3\n"), reply(review_b, "done 99\n")])
    polled = ok(digestbot(settings, "poll"))
    assert "1 closed" in polled and "1 ignored" in polled
    [notice] = [n for n in notices(smtp_server) if "no action #99" in text_of(n)]
    assert notice["To"] == "maya@example.org"
    dovecot.deliver("INBOX", [reply(review_b, "approve\n")])
    ok(digestbot(settings, "poll"))
    ok(digestbot(settings, "send"))
    assert "(late reply to last week's thread)" in sent_digest(smtp_server)

    # -- week C: too quiet; skipped, and its message waits for the next digest ---------------
    quiet = make_raw(8, subject="Quiet week", sender=ANIL, when=at(2, month=9), body="Nothing much happening.\n")
    dovecot.deliver("INBOX", [quiet])
    skipped = scheduled_draft(settings, store, at(9, 8, month=9))
    assert "skipped 2014-09-01..2014-09-07: 1 message(s)" in skipped and "fetched: INBOX: 1 new" in skipped
    assert any("no digest for 2014-09-01..2014-09-07" in str(n["Subject"]) for n in notices(smtp_server))

    # -- week D: the last action closed on the command line; week C's message comes along ---
    closed = digestbot(settings, "actions", "done", "1", "--note", "booked room 4")
    assert ok(closed) == "closed #1: Maya Okafor: book the room for the summit\n"
    again = digestbot(settings, "actions", "done", "1")
    assert again.returncode == 1 and "action #1 is already done" in again.stderr
    week_d = [make_raw(9, subject="Planning", sender=MAYA, when=at(8, month=9), body="Agenda for the summit.\n"),
              make_raw(10, subject="Re: Planning", sender=DAVE, when=at(9, month=9), reply_to=9,
                       body="Sounds good.\n")]
    dovecot.deliver("INBOX", week_d)
    line = scheduled_draft(settings, store, at(16, 8, month=9))
    assert "drafted #" in line and "(3 messages, 1 late)" in line
    review_d = newest_review(smtp_server)
    text_d = flat(text_of(review_d))
    assert "Coverage: 2 messages in the period, 1 late, 0 left out; 3 in this digest." in text_d
    assert "No open actions." in text_d
    assert "#3 Anil Madhavapeddy: write the release notes for 0.9 (closed by maya@example.org)" in text_d
    assert "#1 Maya Okafor: book the room for the summit" in text_d
    assert "#2 " not in text_d.split("Agenda")[0]  # reported done once, in week B
    dovecot.deliver("INBOX", [reply(review_d, "approve\n")])
    ok(digestbot(settings, "poll"))
    ok(digestbot(settings, "send"))

    # -- every list message in exactly one sent digest; every action closed, each its own way --
    sent = store.coverage.sent()
    assert sorted(mid for _d, mid in sent) == sorted(f"<{n}@test.example>" for n in range(1, 11))
    assert len({d for d, _mid in sent}) == 3
    assert [d.state for d in lifecycle.drafts(store)] == ["sent", "sent", "sent"]
    actions = json.loads(ok(digestbot(settings, "actions", "--format", "json")))["actions"]
    assert [(a["id"], a["state"], a["closed_via"]) for a in actions] == [
        (1, "done", "cli"), (2, "done", "mail"), (3, "done", "email")]
    review = ok(digestbot(settings, "review", "2"))
    assert "Coverage: 3 messages in the period, 1 late, 0 left out; 4 in this digest." in review


@pytest.mark.timeout(120)
def test_a_new_bots_first_run_once_polls_at_once(env: tuple[Settings, Store], dovecot: Dovecot) -> None:
    settings, store = env
    dovecot.deliver("INBOX", [make_raw(n, when=at(18 + n)) for n in range(1, 4)])

    first = digestbot(settings, "run", "--once")

    assert first.returncode == 0, first.stderr
    assert "poll (due " in first.stderr and "fetched: INBOX: 3 new" in first.stderr
    assert store.counts()["messages"] == 3
    again = digestbot(settings, "run", "--once")  # the next poll is an interval away
    assert again.returncode == 0 and "fetched" not in again.stderr
