"""What minutes remember, end to end: a real Dovecot mailbox, a real SMTP server, the scheduler's draft job
and the real CLI.

- A fresh bot's first week is skipped by digest.min_messages: its mail is in the first digest, as late mail.
- An archive imported (`digestbot import`) after a digest went out is history: no digest takes it as late.
- DONE: lines right under other text, and `DONE: #N` after a paragraph, close their actions; a redraft of
  the week gives no false warning; a closed action is listed as done in exactly one sent digest.
"""

from __future__ import annotations

import json
import mailbox
from datetime import timedelta
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.store.database import Store
from tests.helpers.dovecot import Dovecot
from tests.helpers.mailfactory import make_raw
from tests.helpers.reviewkit import LIST, text_of
from tests.helpers.smtp_server import SmtpServer
from tests.test_minutes_e2e import ANIL, DAVE, MAYA, at, flat, newest_review, scheduled_draft
from tests.test_minutes_e2e import env as env
from tests.test_review_dovecot import digestbot, ok


def sent_digests(server: SmtpServer) -> list[str]:
    return [flat(text_of(got.message)) for got in server.received if LIST in got.rcpt_tos]


def approve_and_send(settings: Settings, digest_id: int) -> None:
    ok(digestbot(settings, "approve", str(digest_id)))
    assert "(done)" in ok(digestbot(settings, "send"))


@pytest.mark.timeout(300)
def test_a_skipped_first_week_rolls_in_and_an_imported_archive_stays_history(
        env: tuple[Settings, Store], smtp_server: SmtpServer, dovecot: Dovecot, tmp_path: Path) -> None:
    settings, store = env
    # -- week A: the bot's first week, one message: skipped ---------------------------------
    dovecot.deliver("INBOX", [make_raw(1, subject="Quiet start", sender=ANIL, when=at(19),
                                       body="Is anyone around this week?\n")])
    skipped = scheduled_draft(settings, store, at(26, 8))
    assert "skipped 2014-08-18..2014-08-24: 1 message(s)" in skipped
    # -- week B: the first digest takes week A's message as late mail -----------------------
    dovecot.deliver("INBOX", [make_raw(2, subject="Irmin", sender=DAVE, when=at(26), body="Irmin 0.9 is out.\n"),
                              make_raw(3, subject="Re: Irmin", sender=MAYA, when=at(27), reply_to=2,
                                       body="Great news.\n")])
    line = scheduled_draft(settings, store, at(2, 8, month=9))
    assert "drafted #1 for 2014-08-25..2014-08-31 (3 messages, 1 late)" in line
    assert "Coverage: 2 messages in the period, 1 late, 0 left out; 3 in this digest." in flat(
        text_of(newest_review(smtp_server)))
    approve_and_send(settings, 1)
    assert "Quiet start" in sent_digests(smtp_server)[-1]

    # -- an operator imports last year's archive; a real late reply to week B arrives --------
    archive = mailbox.mbox(tmp_path / "archive.mbox")
    for n in range(40):
        archive.add(make_raw(100 + n, subject=f"Old thread {n}", when=at(1, month=8) - timedelta(days=300 + n)))
    archive.flush()
    archive.close()
    assert ok(digestbot(settings, "import", str(tmp_path / "archive.mbox"))) is not None
    assert store.counts()["messages"] == 43
    dovecot.deliver("INBOX", [
        make_raw(4, subject="Re: Irmin", sender=ANIL, when=at(31, 23), reply_to=2, body="Tested on ARM too.\n"),
        make_raw(5, subject="Mirage", sender=DAVE, when=at(2, month=9), body="Mirage 2.0 planning.\n"),
        make_raw(6, subject="Re: Mirage", sender=MAYA, when=at(3, month=9), reply_to=5, body="Count me in.\n")])
    line = scheduled_draft(settings, store, at(9, 8, month=9))
    assert "(3 messages, 1 late)" in line  # not 43
    review = json.loads(ok(digestbot(settings, "review", "--format", "json")))
    assert review[-1]["coverage"]["in_period"] == 2 and review[-1]["coverage"]["late"] == 1
    approve_and_send(settings, review[-1]["id"])
    sent = sorted(mid for _d, mid in store.coverage.sent())
    assert sent == sorted(f"<{n}@test.example>" for n in range(1, 7))  # none of the archive


@pytest.mark.timeout(300)
def test_done_lines_close_actions_once_and_a_redraft_raises_no_false_alarm(
        env: tuple[Settings, Store], smtp_server: SmtpServer, dovecot: Dovecot) -> None:
    settings, store = env
    # -- week A: two actions, sent --------------------------------------------------------
    dovecot.deliver("INBOX", [
        make_raw(1, subject="Conduit merge", sender=DAVE, when=at(18),
                 body="The conduit layer is merged.\n\nACTION: Dave to add vchan support.\n"),
        make_raw(2, subject="Conduit merge", sender=ANIL, when=at(19), reply_to=1,
                 body="Works for me on ARM.\n\nACTION: I will write the release notes for 0.9.\n")])
    assert "drafted #1" in scheduled_draft(settings, store, at(26, 8))
    approve_and_send(settings, 1)
    actions = json.loads(ok(digestbot(settings, "actions", "--format", "json")))["actions"]
    ids = {a["who"]: a["id"] for a in actions}
    dave, anil = ids["Dave Scott"], ids["Anil Madhavapeddy"]

    # -- week B: a DONE: line right under other text; `DONE: #N` after a paragraph ----------
    dovecot.deliver("INBOX", [
        make_raw(3, subject="vchan", sender=DAVE, when=at(26), body="Pushed to master.\nDONE: add vchan support\n"),
        make_raw(4, subject="Release notes", sender=ANIL, when=at(27),
                 body="The release notes are on the wiki now; thanks to everyone who reviewed them.\n\n"
                      f"DONE: #{anil}\n")])
    ok(digestbot(settings, "poll"))
    for attempt in ("draft", "redraft"):  # the redraft supersedes the draft; it must say the same
        ok(digestbot(settings, "draft", "--week-of", "2014-08-25", "--notify"))
        text = flat(text_of(newest_review(smtp_server)))
        assert f"#{dave} Dave Scott: add vchan support (closed by Dave Scott)" in text, attempt
        assert f"#{anil} Anil Madhavapeddy: write the release notes for 0.9 (closed by Anil Madhavapeddy)" in text
        assert "names no open action" not in text and "DONE" not in text, attempt
    review = json.loads(ok(digestbot(settings, "review", "--format", "json")))
    week_b = review[-1]["id"]
    assert [d["state"] for d in review] == ["sent", "superseded", "awaiting"]
    assert {a["id"]: a["state"] for a in json.loads(ok(digestbot(settings, "actions", "--format", "json")))[
        "actions"]} == {dave: "done", anil: "done"}

    # -- week C drafted while week B awaits the chair; then B sent, C rejected and redrafted --
    dovecot.deliver("INBOX", [make_raw(5, subject="Summit", sender=MAYA, when=at(2, month=9), body="Agenda soon.\n"),
                              make_raw(6, subject="Re: Summit", sender=DAVE, when=at(3, month=9), reply_to=5,
                                       body="Thanks.\n")])
    ok(digestbot(settings, "poll"))
    ok(digestbot(settings, "draft", "--week-of", "2014-09-01", "--notify"))
    assert "(closed by" not in flat(text_of(newest_review(smtp_server)))  # week B lists them
    week_c = json.loads(ok(digestbot(settings, "review", "--format", "json")))[-1]["id"]
    approve_and_send(settings, week_b)
    ok(digestbot(settings, "reject", str(week_c), "--reason", "redo"))
    ok(digestbot(settings, "draft", "--week-of", "2014-09-01", "--notify"))
    assert "(closed by" not in flat(text_of(newest_review(smtp_server)))
    approve_and_send(settings, json.loads(ok(digestbot(settings, "review", "--format", "json")))[-1]["id"])
    digests = sent_digests(smtp_server)
    assert len(digests) == 3
    assert [sum(d.count(what) for d in digests) for what in ("add vchan support (closed by",
                                                             "release notes for 0.9 (closed by")] == [1, 1]
