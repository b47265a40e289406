"""`digestbot poll` and `digestbot status` as a user runs them, against a real Dovecot."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.store.database import open_store
from bot.store.tables import digests
from tests.helpers.dovecot import Dovecot, Proxy, free_port, write_config
from tests.helpers.mailfactory import make_raw

ROOT = Path(__file__).parent.parent


def digestbot(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DIGESTBOT_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "bot.cli.main", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_poll_prints_one_line_and_status_reports_it(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver("INBOX", [make_raw(1), make_raw(2), make_raw(3, headers={"Date": "not a date"})])
    dovecot.create_folder("Lists/dev")
    config = str(write_config(tmp_path / "c.toml", dovecot, folders=["INBOX", "Lists/dev"]))

    first = digestbot("--config", config, "poll")
    second = digestbot("--config", config, "poll")

    assert first.returncode == 0, first.stderr
    assert first.stdout == "INBOX: 3 new (0 already stored), last UID 3; Lists/dev: nothing new\n"
    assert "unencrypted" in first.stderr  # tls = "none" was asked for, and is warned about
    assert second.stdout == "INBOX: nothing new; Lists/dev: nothing new\n"
    assert digestbot("--config", config, "poll", "--folder", "Lists/dev").stdout == "Lists/dev: nothing new\n"

    store = open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    with store.engine.begin() as conn:
        stamp = datetime.now(UTC)
        conn.execute(digests.insert().values(period_start=stamp, period_end=stamp, state="awaiting",
                                             mail_message_id="<d@x>", created_at=stamp, updated_at=stamp))
    store.engine.dispose()
    status = digestbot("--config", config, "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["messages"]["messages"] == 3 and data["flagged"] == data["messages"]["flagged"]
    assert data["drafts_pending"]["total"] == 1 and data["drafts_pending"]["awaiting"] == 1
    assert data["integrity"] == "ok"
    inbox, dev = data["folders"]
    assert (inbox["folder"], inbox["last_uid"], inbox["last_error"]) == ("INBOX", 3, None)
    assert inbox["last_poll_at"] and dev["folder"] == "Lists/dev"

    text = digestbot("--config", config, "status")
    assert "messages: 3 stored" in text.stdout
    assert "drafts pending: 1" in text.stdout
    assert "INBOX: last poll 20" in text.stdout


def test_nothing_new_poll_process_stays_light(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver("INBOX", [make_raw(1)])
    proxy = Proxy(dovecot.port)
    config = str(write_config(tmp_path / "c.toml", dovecot, port=proxy.port))
    assert digestbot("--config", config, "poll").returncode == 0
    proxy.commands.clear()
    probe = ("import sys; from bot.cli.main import main; main(['-q', '--config', sys.argv[1], 'poll']); "
             "heavy = [m for m in ('sqlalchemy', 'mailparser', 'numpy', 'bot.store.database', 'bot.mail.ingest', "
             "'tenacity') "
             "if m in sys.modules]; print('heavy:', heavy)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    result = subprocess.run([sys.executable, "-c", probe, config], capture_output=True, text=True, env=env,
                            timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "INBOX: nothing new\nheavy: []\n"
    assert proxy.commands == ["CAPABILITY", "LOGIN", 'EXAMINE "INBOX"', "LOGOUT"]
    proxy.close()


def test_errors_are_one_line_with_exit_code_1(dovecot: Dovecot, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", dovecot, folders=["Lists/foo"])
    missing = digestbot("--config", str(config), "poll")
    (tmp_path / "imap-password").write_text("not-the-password")
    bad_login = digestbot("--config", str(config), "poll")
    port = free_port()
    refused = digestbot("--config", str(write_config(tmp_path / "r.toml", dovecot, port=port)), "poll")

    for result, line in [
        (missing, "digestbot: error: imap: folder 'Lists/foo' does not exist\n"),
        (bad_login, f"digestbot: error: imap: login failed for user bot at 127.0.0.1:{dovecot.port}"),
        (refused, f"digestbot: error: imap: 127.0.0.1:{port} refused the connection\n"),
    ]:
        assert result.returncode == 1
        assert result.stdout == ""
        errors = [e for e in result.stderr.splitlines() if "WARNING" not in e]
        assert len(errors) == 1 and (errors[0] + "\n").startswith(line), result.stderr
        assert "Traceback" not in result.stderr and dovecot.password not in result.stderr

    status = digestbot("--config", str(config), "status")
    assert "Lists/foo: last poll never, last UID 0; last error: imap: login failed" in status.stdout


def test_poll_watch_runs_until_interrupted(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver("INBOX", [make_raw(1)])
    config = str(write_config(tmp_path / "c.toml", dovecot, idle_seconds=2))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen([sys.executable, "-m", "bot.cli.main", "-q", "--config", config, "poll", "--watch"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == "INBOX: 1 new (0 already stored), last UID 1\n"
        dovecot.deliver("INBOX", [make_raw(2)])
        assert process.stdout.readline() == "INBOX: 1 new (0 already stored), last UID 2\n"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 130
