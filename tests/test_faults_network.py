"""Servers that fail under a running command: one clear line, nothing lost, the next run completes.

IMAP: Dovecot goes away in the middle of a FETCH and stays away past the
reconnect budget. SMTP: a server that greets with 421, one that answers 421
and hangs up in the middle of a session, one whose connection drops in the
middle of DATA. Every run is the real command line; the servers are real
(Dovecot, aiosmtpd) and local, with a small relay in between to cut wires.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa

from bot.review import lifecycle
from bot.review.roster import add
from bot.settings import Settings, load_settings
from bot.store.database import Store, open_store
from bot.store.tables import deliveries
from tests.helpers.dovecot import Dovecot, Proxy, accept_in_background, stop_listening, write_config
from tests.helpers.mailfactory import make_raw
from tests.helpers.reviewkit import CHAIR, SECRET, SECRET_ENV, make_digest, notices, text_of
from tests.helpers.reviewkit import write_config as write_review_config
from tests.helpers.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
ROSTER = ["ann@example.org", "bob@example.net", "carla@example.com"]


def digestbot(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), SECRET_ENV: SECRET}
    env.pop("DIGESTBOT_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "bot.cli.main", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "WARNING" not in line and "INFO" not in line]
    assert len(errors) == 1, result.stderr
    return errors[0]


# -- IMAP -------------------------------------------------------------------------

COUNT = 1000  # ingest stores 400 at a time: the poll below dies after storing some, not all


def stored_ids(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return [row[0] for row in conn.execute("SELECT message_id FROM messages ORDER BY id")]
    finally:
        conn.close()


@pytest.mark.timeout(180)
def test_imap_server_gone_mid_poll(dovecot: Dovecot, tmp_path: Path) -> None:
    body = "A line of list traffic, long enough to make the fetch responses realistic.\n" * 10
    dovecot.deliver_files("INBOX", [make_raw(n, body=body) for n in range(1, COUNT + 1)])
    proxy = Proxy(dovecot.port)
    proxy.after_bytes(700_000, dovecot.stop)  # mid-FETCH, and it does not come back during this poll
    config = write_config(tmp_path / "c.toml", dovecot, port=proxy.port, batch_size=50)
    db = tmp_path / "store.sqlite3"

    line = one_error_line(digestbot("--config", str(config), "poll"))

    assert line.startswith(f"digestbot: error: imap: lost the connection to 127.0.0.1:{proxy.port} and could not "
                           "resume after 6 attempts")
    kept = stored_ids(db)
    assert 0 < len(kept) < COUNT and len(set(kept)) == len(kept)
    status = digestbot("--config", str(config), "status")
    assert f"INBOX: last poll never, last UID {len(kept)}; last error: imap: lost the connection" in status.stdout

    dovecot.start()
    again = digestbot("--config", str(config), "poll")

    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"INBOX: {COUNT - len(kept)} new (0 already stored), last UID {COUNT}")
    assert sorted(stored_ids(db)) == sorted(f"<{n}@test.example>" for n in range(1, COUNT + 1))
    assert "last error" not in digestbot("--config", str(config), "status").stdout
    assert dovecot.unseen("INBOX") == COUNT
    proxy.close()


# -- SMTP -------------------------------------------------------------------------


class Greeter:
    """A server that answers every connection with one line (e.g. 421 at the greeting) and hangs up."""

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        self._acceptor = accept_in_background(self.listener, self._serve)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.sendall(self.line)

    def close(self) -> None:
        stop_listening(self.listener, self._acceptor)


class DataCutter:
    """A relay to an SMTP server that drops the connection in the middle of the n-th DATA it relays."""

    def __init__(self, target_port: int, nth: int, after: int = 300) -> None:
        self.target_port, self.nth, self.after = target_port, nth, after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.datas = 0
        self.cut = False
        self._lock = threading.Lock()
        self._acceptor = accept_in_background(self.listener, self._accept)

    def close(self) -> None:
        stop_listening(self.listener, self._acceptor)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(client)
            server = stack.enter_context(socket.create_connection(("127.0.0.1", self.target_port), timeout=5))
            victim, in_data, sent = False, False, 0
            with selectors.DefaultSelector() as selector:
                selector.register(client, selectors.EVENT_READ)
                selector.register(server, selectors.EVENT_READ)
                while True:
                    for key, _ in selector.select(timeout=5):
                        sock = cast(socket.socket, key.fileobj)
                        data = sock.recv(65536)
                        if not data:
                            return
                        if sock is server:
                            client.sendall(data)
                            continue
                        if in_data and victim:
                            server.sendall(data[: self.after - sent])
                            sent += len(data)
                            if sent >= self.after:
                                self.cut = True
                                return  # both connections close, the message half sent
                            continue
                        if data.upper().startswith(b"DATA"):
                            with self._lock:
                                self.datas += 1
                                victim = self.datas == self.nth
                            in_data = True
                        elif data.startswith((b"RSET", b"MAIL")):
                            in_data = False
                        server.sendall(data)


def roster_store(tmp_path: Path, server: Any) -> tuple[Path, Settings, Store, int]:
    """An approved digest for the roster; the config points at `server` (anything with .port/.tls/.ca_file)."""
    config = write_review_config(tmp_path, cast(SmtpServer, server), mode="roster")
    settings = load_settings(config)  # the review_secret fixture puts the key in the environment
    store = open_store(settings.store_url)
    for address in ROSTER:
        add(store, address)
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, draft.id, CHAIR, "cli")
    return config, settings, store, draft.id


def ledger(store: Store, digest_id: int) -> dict[str, str]:
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.select(deliveries.c.recipient, deliveries.c.state)
                                 .where(deliveries.c.digest_id == digest_id)).all())


def digest_copies(server: SmtpServer) -> list[str]:
    return [r for got in server.received if not str(got.message["Subject"]).startswith("[digestbot]")
            for r in got.rcpt_tos]


def point_at(config: Path, port: int) -> None:
    text = config.read_text()
    start = text.index("port = ", text.index("[smtp]"))
    end = text.index("\n", start)
    config.write_text(text[:start] + f"port = {port}" + text[end:])


@pytest.mark.timeout(120)
def test_smtp_421_at_the_greeting(tmp_path: Path, smtp_server: SmtpServer, review_secret: str) -> None:
    busy = Greeter(b"421 4.3.2 mx.example.org too busy, try again later\r\n")
    config, _settings, store, digest_id = roster_store(tmp_path, SimpleNamespace(port=busy.port, tls="none",
                                                                                ca_file=None))

    line = one_error_line(digestbot("--config", str(config), "send"))

    assert line == (f"digestbot: error: cannot connect to SMTP server 127.0.0.1:{busy.port}: "
                    "greeting 421 4.3.2 mx.example.org too busy, try again later")
    assert busy.connections == 3  # tried three times, with backoff
    assert ledger(store, digest_id) == dict.fromkeys(ROSTER, "pending")  # nothing lost, nothing sent
    busy.close()

    point_at(config, smtp_server.port)
    again = digestbot("--config", str(config), "send")

    assert again.returncode == 0, again.stderr
    assert "sent to 3 of 3 (done)" in again.stdout
    assert sorted(digest_copies(smtp_server)) == ROSTER
    assert ledger(store, digest_id) == dict.fromkeys(ROSTER, "sent")


@pytest.mark.timeout(120)
def test_smtp_421_and_hang_up_in_the_middle_of_a_session(tmp_path: Path, smtp_server: SmtpServer,
                                                         review_secret: str) -> None:
    config, _settings, store, digest_id = roster_store(tmp_path, smtp_server)
    handler = smtp_server.handler
    original = handler.handle_DATA
    hung_up: list[str] = []

    async def shutting_down(server: Any, session: Any, envelope: Any) -> str:
        if envelope.rcpt_tos == ["bob@example.net"] and not hung_up:
            hung_up.append("bob@example.net")
            # The reply goes out first, then the server closes the connection, as RFC 5321 has it.
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
            return "421 4.3.0 shutting down, closing transmission channel"
        return await original(server, session, envelope)

    handler.handle_DATA = shutting_down  # type: ignore[method-assign]

    first = digestbot("--config", str(config), "send")

    assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr
    assert first.stdout.strip().endswith("sent to 2 of 3, 1 deferred (not finished)"), first.stdout
    assert ledger(store, digest_id) == {"ann@example.org": "sent", "bob@example.net": "deferred",
                                        "carla@example.com": "sent"}
    with store.engine.begin() as conn:  # the retry is due (the backoff has passed)
        conn.execute(deliveries.update().values(updated_at=sa.func.datetime(deliveries.c.updated_at, "-1 day")))

    again = digestbot("--config", str(config), "send")

    assert again.returncode == 0, again.stderr
    assert "sent to 1 of 3 (done)" in again.stdout  # bob's retry; the others had theirs
    assert sorted(digest_copies(smtp_server)) == ROSTER  # bob once, after the retry
    assert lifecycle.get(store, digest_id).state == "sent"


@pytest.mark.timeout(120)
def test_smtp_connection_dropped_in_the_middle_of_data(tmp_path: Path, smtp_server: SmtpServer,
                                                       review_secret: str) -> None:
    relay = DataCutter(smtp_server.port, nth=2)
    config, _settings, store, digest_id = roster_store(tmp_path, SimpleNamespace(port=relay.port, tls="none",
                                                                                ca_file=None))

    first = digestbot("--config", str(config), "send")

    assert relay.cut
    assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr
    assert first.stdout.strip().endswith("sent to 2 of 3, 1 unknown (done)"), first.stdout
    # The message was in flight: it may have arrived, so it is never sent again, and the chair is told.
    assert ledger(store, digest_id) == {"ann@example.org": "sent", "bob@example.net": "unknown",
                                        "carla@example.com": "sent"}
    assert sorted(digest_copies(smtp_server)) == ["ann@example.org", "carla@example.com"]
    [notice] = notices(smtp_server)
    assert f"#{digest_id} to bob@example.net: UNKNOWN" in text_of(notice)
    assert "connection lost during DATA" in text_of(notice)

    again = digestbot("--config", str(config), "send")

    assert again.returncode == 0 and again.stdout.strip() == "nothing to send"
    assert sorted(digest_copies(smtp_server)) == ["ann@example.org", "carla@example.com"]
    relay.close()
