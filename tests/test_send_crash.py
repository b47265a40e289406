"""A `digestbot send` killed mid-run: the next one finishes the job and sends nothing twice.

The SMTP server itself pulls the trigger: it SIGKILLs the sending process
when a chosen recipient's RCPT or DATA arrives, so the kill lands at an exact
point of the transaction, every time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.delivery.send import send_approved
from bot.review import lifecycle
from bot.review.roster import add
from bot.store.database import open_store
from bot.store.tables import deliveries
from tests.helpers.reviewkit import CHAIR, SECRET, SECRET_ENV, make_digest, notices, settings_for, text_of, write_config
from tests.helpers.smtp_server import Received, SmtpServer

ROOT = Path(__file__).resolve().parent.parent
ROSTER = ["ann@example.org", "bob@example.net", "carla@example.com"]


def run_send(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, SECRET_ENV: SECRET}
    return subprocess.Popen([sys.executable, "-m", "bot.cli.main", "--config", str(config), "send"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def digest_recipients(server: SmtpServer) -> list[str]:
    """Who got the digest (not the chair's notices), in order of arrival."""
    return [rcpt for got in server.received if not str(got.message["Subject"]).startswith("[digestbot]")
            for rcpt in got.rcpt_tos]


@pytest.mark.parametrize(("stage", "victim"), [
    ("rcpt", "bob@example.net"),  # between two recipients: the first was sent and recorded
    ("rcpt", "ann@example.org"),  # before anything was sent
    ("data", "bob@example.net"),  # the message was in flight: the server has it, the ledger cannot know
    ("data", "carla@example.com"),
])
def test_a_killed_send_is_finished_by_the_next_without_doubles(tmp_path: Path, smtp_server: SmtpServer,
                                                               review_secret: str, stage: str, victim: str) -> None:
    config = write_config(tmp_path, smtp_server, mode="roster")
    settings = settings_for(tmp_path, smtp_server, mode="roster")
    store = open_store(settings.store_url)
    for address in ROSTER:
        add(store, address)
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, draft.id, CHAIR, "cli")

    pid: list[int] = []
    fired: list[bool] = []

    def kill(address: str) -> None:
        if address == victim and not fired:
            fired.append(True)
            os.kill(pid[0], signal.SIGKILL)

    if stage == "rcpt":
        smtp_server.handler.on_rcpt = kill
    else:
        def kill_on_data(got: Received) -> None:
            kill(got.rcpt_tos[0])

        smtp_server.handler.on_data = kill_on_data
    proc = run_send(config)
    pid.append(proc.pid)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    smtp_server.handler.on_rcpt = smtp_server.handler.on_data = None
    before = digest_recipients(smtp_server)
    assert lifecycle.get(store, draft.id).state == "approved"  # not done yet

    report = send_approved(store, settings)

    recipients = digest_recipients(smtp_server)
    assert sorted(recipients) == ROSTER, "every subscriber got the digest exactly once"
    assert recipients[len(before):] == [a for a in ROSTER if a not in before], "the rerun sent only the rest"
    with store.engine.connect() as conn:
        states = dict(conn.execute(sa.select(deliveries.c.recipient, deliveries.c.state)).all())
    expected = {a: "sent" for a in ROSTER}
    if stage == "data":
        expected[victim] = "unknown"  # resolved toward "never twice"
    assert states == expected
    assert report.digests[0].done and lifecycle.get(store, draft.id).state == "sent"
    told = notices(smtp_server)
    if stage == "data":
        assert len(told) == 1 and f"to {victim}: UNKNOWN" in text_of(told[0])
    else:
        assert told == []
