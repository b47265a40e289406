"""The review flow from the terminal: draft --notify, review, show, edit, approve, reject, send, subscribers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.mailfactory import make_raw, mbox_of
from tests.helpers.reviewkit import CHAIR, LIST, SECRET, SECRET_ENV, review_mails, text_of, write_config
from tests.helpers.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
FAKE_EDITOR = """\
import sys
from pathlib import Path
path = Path(sys.argv[1])
path.write_text(path.read_text().replace("{old}", "{new}"))
"""


def cli(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, SECRET_ENV: SECRET, **(env or {})}
    return subprocess.run([sys.executable, "-m", "bot.cli.main", "--config", str(config), *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture()
def config(tmp_path: Path, smtp_server: SmtpServer) -> Path:
    path = write_config(tmp_path, smtp_server)
    mbox = tmp_path / "week.mbox"
    mbox.write_bytes(mbox_of([
        make_raw(1, subject="Release plan for 2.0", body="We agreed to release 2.0 on 1 September.\n"),
        make_raw(2, subject="Re: Release plan for 2.0", sender="Bob Builder <bob@example.org>",
                 body="I will prepare the changelog by Friday.\n", reply_to=1),
    ]))
    ok(cli(path, "import", str(mbox)))
    return path


def editor(tmp_path: Path, old: str, new: str) -> str:
    script = tmp_path / "fake_editor.py"
    script.write_text(FAKE_EDITOR.format(old=old, new=new))
    return f"{sys.executable} {script}"


def test_the_whole_flow_from_the_terminal(config: Path, smtp_server: SmtpServer, tmp_path: Path) -> None:
    out = ok(cli(config, "draft", "--week-of", "2014-08-20", "--notify"))
    assert out.startswith("stored draft #1 (revision 1): [driftwood-devel] Weekly Meeting: 2014-08-20")
    assert f"review mail sent to {CHAIR}" in out
    [mail] = review_mails(smtp_server)
    assert "Release plan for 2.0" in text_of(mail)

    table = ok(cli(config, "review"))
    header, row = table.splitlines()[:2]
    assert header.split()[:6] == ["ID", "PERIOD", "STATE", "REV", "SIZE", "AGE"]
    assert row.split()[:4] == ["1", "2014-08-18..2014-08-24", "awaiting", "1"]
    [data] = json.loads(ok(cli(config, "review", "--format", "json")))
    assert (data["id"], data["state"], data["revision"]) == (1, "awaiting", 1) and data["size"] > 100
    assert [(t["to"], t["via"]) for t in data["transitions"]] == [("drafted", "cli"), ("awaiting", "cli")]

    assert "Release plan for 2.0" in ok(cli(config, "show", "1"))
    assert ok(cli(config, "show", "1", "--format", "html")).lstrip().lower().startswith("<!doctype html>")
    eml = ok(cli(config, "show", "1", "--format", "eml"))
    assert f"To: {LIST}" in eml and "Message-ID: <digest-20140818-1-" in eml

    fake = editor(tmp_path, "Release plan for 2.0", "Release plan for 2.0 (edited)")
    assert "revision 2 stored" in ok(cli(config, "edit", "1", env={"EDITOR": fake, "VISUAL": ""}))
    assert "Release plan for 2.0 (edited)" in ok(cli(config, "show", "1"))
    assert "no change" in ok(cli(config, "edit", "1", env={"EDITOR": "true", "VISUAL": ""}))
    assert ok(cli(config, "show", "1", "--revision", "1", "--format", "markdown")).startswith("---\n")

    assert "revision 2 approved" in ok(cli(config, "approve", "1"))
    sent = ok(cli(config, "send"))
    assert sent.startswith("#1 [driftwood-devel] Weekly Meeting") and "sent to 1 of 1 (done)" in sent
    [digest] = smtp_server.to(LIST)
    assert "Release plan for 2.0 (edited)" in text_of(digest.message)
    assert ok(cli(config, "send")).strip() == "nothing to send"

    history = ok(cli(config, "review", "1"))
    for step in ("- -> drafted", "drafted -> awaiting", "awaiting -> drafted", "drafted -> approved",
                 "approved -> sent"):
        assert step in history, history
    assert f"{LIST}: sent (r2, 1 attempt(s))" in history


def test_reject_from_the_terminal_and_errors(config: Path, smtp_server: SmtpServer) -> None:
    ok(cli(config, "draft", "--week-of", "2014-08-20", "--save"))
    assert smtp_server.received == []  # --save does not mail the chair
    missing = cli(config, "reject", "1")
    assert missing.returncode == 2 and "--reason" in missing.stderr
    assert "rejected" in ok(cli(config, "reject", "1", "--reason", "too thin this week"))
    again = cli(config, "approve", "1")
    assert again.returncode == 1 and "draft #1 is rejected; it cannot become approved" in again.stderr
    assert "Traceback" not in again.stderr
    unknown = cli(config, "show", "9")
    assert unknown.returncode == 2 and "no draft #9" in unknown.stderr  # a wrong id is bad input
    assert "nothing to send" in ok(cli(config, "send"))
    assert [t["note"] for t in json.loads(ok(cli(config, "review", "1", "--format", "json")))["transitions"]][-1] \
        == "too thin this week"


def test_a_failing_editor_stores_nothing(config: Path) -> None:
    ok(cli(config, "draft", "--week-of", "2014-08-20", "--save"))
    failed = cli(config, "edit", "1", env={"EDITOR": "false", "VISUAL": ""})
    assert failed.returncode == 1 and "the editor exited with status 1; nothing stored" in failed.stderr
    assert json.loads(ok(cli(config, "review", "--format", "json")))[0]["revision"] == 1


def test_subscribers_and_roster_send(tmp_path: Path, smtp_server: SmtpServer) -> None:
    config = write_config(tmp_path, smtp_server, mode="roster")
    assert "subscribed" in ok(cli(config, "subscribers", "add", "Ann Example <Ann@Example.org>"))
    assert "already subscribed" in ok(cli(config, "subscribers", "add", "ann@example.org"))
    ok(cli(config, "subscribers", "add", "bob@example.net", "--name", "Bob"))
    bad = cli(config, "subscribers", "add", "not-an-address")
    assert bad.returncode == 2 and "not an email address" in bad.stderr
    assert ok(cli(config, "subscribers", "list")).splitlines() == ["Ann Example <ann@example.org>",
                                                                    "Bob <bob@example.net>"]
    assert "unsubscribed" in ok(cli(config, "subscribers", "remove", "bob@example.net"))
    listed = json.loads(ok(cli(config, "subscribers", "list", "--all", "--format", "json")))
    assert [(p["address"], p["active"], p["changed_via"]) for p in listed] == [
        ("ann@example.org", True, "cli"), ("bob@example.net", False, "cli")]


def test_remind_from_the_terminal(config: Path) -> None:
    assert ok(cli(config, "remind")).strip() == "no reminder due"
