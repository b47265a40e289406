"""Secrets stay secret; TLS is verified; what digestbot writes is the owner's alone.

One full cycle with recognizable secrets (IMAP and SMTP passwords, the review
HMAC key, all containing "Pw-7c1f-SECRET"): the scheduler polls Dovecot over
TLS, drafts and mails the chair over SMTP with STARTTLS and AUTH (logging to
its log file), then the command line polls, drafts to a file, approves, sends
(after a failed login), and reports status. Then everything written is
searched: stdout, stderr, the log file, the SQLite file with its -wal and
-shm, the draft file, every other file in the folder, and the mail that went out.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.review import lifecycle
from bot.settings import load_settings
from bot.store.database import open_store
from tests.helpers.dovecot import Dovecot
from tests.helpers.mailfactory import make_raw, mbox_of
from tests.helpers.reviewkit import make_digest
from tests.helpers.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
MARK = "Pw-7c1f-SECRET"
IMAP_PASSWORD = MARK + "-imap-4d2e"
SMTP_PASSWORD = MARK + "-smtp-91ab"
REVIEW_KEY = MARK + "-review-hmac-5f30a8"
WRONG_PASSWORD = MARK + "-wrong-0000"
CHAIR = "maya@example.org"
LIST = "driftwood-devel@lists.example.org"
SCHEDULER = """
import sys
from datetime import datetime, UTC
from bot.schedule.runner import run, setup_logging
from bot.settings import load_settings
import logging
logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
settings = load_settings(sys.argv[1])
setup_logging(settings)
for now in sys.argv[2:]:
    print("failed:", run(settings, once=True, now=datetime.fromisoformat(now)))
"""


def needles() -> list[bytes]:
    """Each secret as written, and as SMTP AUTH and a careless log would encode it."""
    found = []
    for secret in (IMAP_PASSWORD, SMTP_PASSWORD, REVIEW_KEY, WRONG_PASSWORD):
        found += [secret.encode(), base64.b64encode(secret.encode()),
                  base64.b64encode(f"\0digestbot\0{secret}".encode()), secret.encode("utf-16-le")]
    return [MARK.encode(), *found]


@pytest.fixture()
def imap(tmp_path: Path) -> Iterator[Dovecot]:
    server = Dovecot(tls=True)
    server.password = IMAP_PASSWORD
    server._write_files()  # the passwd file, with this password
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture()
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    (tmp_path / "certs").mkdir()
    server = SmtpServer(tls="starttls", cert_dir=tmp_path / "certs", auth=("digestbot", SMTP_PASSWORD)).start()
    try:
        yield server
    finally:
        server.stop()


def write_config(folder: Path, imap: Dovecot, smtp: SmtpServer) -> Path:
    (folder / "imap-password").write_text(IMAP_PASSWORD + "\n")
    config = folder / "digestbot.toml"
    config.write_text(
        f'[list]\nname = "driftwood-devel"\naddress = "{LIST}"\n'
        '[store]\npath = "store.sqlite3"\n'
        f'[digest]\nchair = "Maya Okafor"\nchair_address = "{CHAIR}"\n'
        f'[source]\nhost = "127.0.0.1"\nport = {imap.ssl_port}\ntls = "ssl"\nca_file = "{imap.ca_file}"\n'
        f'username = "{imap.user}"\npassword_file = "imap-password"\ntimeout = 5.0\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\ntls = "starttls"\nca_file = "{smtp.ca_file}"\n'
        'username = "digestbot"\npassword_env = "DIGESTBOT_SMTP_PASSWORD"\nfrom_address = "digestbot@example.org"\n'
        'timeout = 5.0\n'
        f'[review]\nchair_addresses = ["{CHAIR}"]\nsecret_env = "DIGESTBOT_REVIEW_KEY"\n'
        '[schedule]\ntimezone = "UTC"\nlog_file = "digestbot.log"\n',
        encoding="utf-8")
    return config


class Outputs:
    """Everything the runs printed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.text: list[str] = []

    def run(self, *argv: str, smtp_password: str = SMTP_PASSWORD, code: int = 0) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DIGESTBOT_SMTP_PASSWORD": smtp_password,
               "DIGESTBOT_REVIEW_KEY": REVIEW_KEY, "EDITOR": "true", "VISUAL": ""}
        env.pop("DIGESTBOT_CONFIG", None)
        done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=self.folder,
                              timeout=180)
        self.text += [done.stdout, done.stderr]
        assert done.returncode == code, (argv, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def cli(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "bot.cli.main", "--config", "digestbot.toml", *args, **kw)  # type: ignore[arg-type]


@pytest.mark.timeout(300)
def test_no_secret_is_written_anywhere_in_a_full_cycle(tmp_path: Path, imap: Dovecot, smtp: SmtpServer) -> None:
    folder = tmp_path / "bot"
    folder.mkdir()
    write_config(folder, imap, smtp)
    imap.deliver("INBOX", [make_raw(n, subject="Release plan" if n == 1 else "Re: Release plan",
                                    reply_to=None if n == 1 else n - 1,
                                    body=f"Message {n}: we agreed to ship the release on Friday.\n")
                           for n in range(1, 6)])
    out = Outputs(folder)

    # The scheduler: first start, then a day later (poll, draft and review mail, remind, send), into its log file.
    out.run("-c", SCHEDULER, "digestbot.toml", "2014-08-25T00:00:00+00:00", "2014-08-26T09:30:00+00:00")
    log = (folder / "digestbot.log").read_text()
    assert "draft (due" in log and "drafted #1" in log and "review mail sent to the chair" in log, log
    assert "poll (due" in log and "fetched: INBOX: 5 new" in log, log
    assert [u for u in smtp.logins] and all(u == "digestbot" for u in smtp.logins)

    # The command line, verbose: a poll, a draft to a file, a failed login, an approval, a send, the reports.
    (folder / "imap-password").write_text(WRONG_PASSWORD + "\n")
    bad_login = out.cli("-v", "poll", code=1)
    assert "login failed for user bot" in bad_login.stderr
    (folder / "imap-password").write_text(IMAP_PASSWORD + "\n")
    assert out.cli("-v", "poll").stdout.startswith("INBOX: nothing new")
    out.cli("-v", "draft", "--week-of", "2014-08-20", "--format", "markdown", "--output", "draft.md")
    out.cli("-v", "approve", "1")
    refused = out.cli("-v", "send", smtp_password=WRONG_PASSWORD, code=1)
    assert "SMTP login as digestbot refused: 535" in refused.stderr
    assert "sent to 1 of 1 (done)" in out.cli("-v", "send").stdout
    assert "integrity ok" in out.cli("status").stdout
    json.loads(out.cli("status", "--format", "json").stdout)
    out.cli("review", "1", "--format", "json")
    out.cli("show", "1", "--format", "eml")
    out.cli("schedule")
    assert [got.rcpt_tos for got in smtp.received] == [(CHAIR,), (LIST,)]

    assert MARK.encode() in (folder / "imap-password").read_bytes()  # the search below would find it
    (folder / "imap-password").unlink()  # the one file that holds a secret on purpose
    written = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    assert {p.name for p in written} >= {"store.sqlite3", "digestbot.log", "draft.md", "digestbot.toml"}
    places = {**{str(p): data for p, data in written.items()},
              "stdout and stderr": "\n".join(out.text).encode(),
              "mail sent": b"\n".join(got.raw for got in smtp.received)}
    for where, data in places.items():
        for needle in needles():
            assert needle not in data, f"{needle!r} in {where}"


def test_the_store_and_draft_files_are_the_owners_alone(tmp_path: Path) -> None:
    folder = tmp_path / "bot"
    folder.mkdir()
    (folder / "digestbot.toml").write_text('[store]\npath = "data/store.sqlite3"\n')
    (folder / "week.mbox").write_bytes(mbox_of([make_raw(1), make_raw(2, reply_to=1)]))
    out = Outputs(folder)
    out.cli("import", "week.mbox")
    out.cli("draft", "--week-of", "2014-08-20", "--output", "draft.txt")
    out.cli("draft", "--week-of", "2014-08-20", "--save", "--format", "html", "--output", "saved.html")
    for name in ("data/store.sqlite3", "data/store.sqlite3-wal", "data/store.sqlite3-shm", "draft.txt",
                 "saved.html"):
        path = folder / name
        if name.endswith(("-wal", "-shm")) and not path.exists():
            continue  # SQLite removed them when the last connection closed
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


# -- TLS is verified by default --------------------------------------------------------------


def test_imap_with_a_self_signed_certificate_and_no_ca_file_fails_clearly(tmp_path: Path, imap: Dovecot,
                                                                          smtp: SmtpServer) -> None:
    folder = tmp_path / "bot"
    folder.mkdir()
    config = write_config(folder, imap, smtp)
    config.write_text(config.read_text().replace(f'ca_file = "{imap.ca_file}"\n', "", 1))
    out = Outputs(folder)

    failed = out.cli("poll", code=1)

    [line] = [e for e in failed.stderr.splitlines() if "WARNING" not in e]
    assert line.startswith(f"digestbot: error: imap: TLS handshake with 127.0.0.1:{imap.ssl_port} failed: "
                           "certificate verify failed")
    assert "source.ca_file" in line and IMAP_PASSWORD not in failed.stderr
    assert "Login: user=<bot>" not in imap.log()  # the password never left this process


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_smtp_with_a_self_signed_certificate_and_no_ca_file_fails_clearly(tmp_path: Path, tls: str) -> None:
    (tmp_path / "certs").mkdir()
    server = SmtpServer(tls=tls, cert_dir=tmp_path / "certs",  # type: ignore[arg-type]
                        auth=("digestbot", SMTP_PASSWORD)).start()
    try:
        folder = tmp_path / "bot"
        folder.mkdir()
        (folder / "digestbot.toml").write_text(
            f'[list]\naddress = "{LIST}"\n[store]\npath = "store.sqlite3"\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {server.port}\ntls = "{tls}"\nusername = "digestbot"\n'
            'password_env = "DIGESTBOT_SMTP_PASSWORD"\nfrom_address = "digestbot@example.org"\ntimeout = 5.0\n'
            f'[digest]\nchair_address = "{CHAIR}"\n[review]\nsecret_env = "DIGESTBOT_REVIEW_KEY"\n')
        out = Outputs(folder)
        settings = load_settings(folder / "digestbot.toml")
        store = open_store(settings.store_url)
        draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
        lifecycle.approve(store, draft.id, CHAIR, "cli")
        store.engine.dispose()

        failed = out.cli("send", code=1)

        [line] = failed.stderr.splitlines()
        assert line.startswith(f"digestbot: error: TLS with SMTP server 127.0.0.1:{server.port} failed: "
                               "certificate verify failed: ")
        assert line.endswith("(for a private CA, set smtp.ca_file)")
        assert server.received == [] and server.logins == []  # the password was never sent
        assert SMTP_PASSWORD not in failed.stderr
    finally:
        server.stop()

