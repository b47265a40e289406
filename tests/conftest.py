"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.dovecot import Dovecot, stop_every_listener
from tests.helpers.postgres import postgres_cluster as postgres_cluster  # session: one cluster
from tests.helpers.postgres import postgres_url as postgres_url  # a fresh database per test


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything tries to reach the network or NLTK data."""
    import socket

    import nltk  # type: ignore[import-untyped]

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("network or NLTK data access during a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(nltk.data, "find", refuse)
    monkeypatch.setattr(nltk, "download", refuse)


@pytest.fixture()
def dovecot() -> Iterator[Dovecot]:
    """A real Dovecot on a free 127.0.0.1 port, plain IMAP only; fails (never skips) without Dovecot."""
    server = Dovecot().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture()
def dovecot_tls() -> Iterator[Dovecot]:
    """Dovecot with a trustme certificate for 127.0.0.1: STARTTLS on .port, implicit TLS on .ssl_port.

    `server.ca_file` is the CA that signed it.
    """
    server = Dovecot(tls=True).start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture()
def smtp_server() -> Iterator[object]:
    """A recording aiosmtpd server on a free 127.0.0.1 port (plain SMTP); see tests/helpers/smtp_server.py."""
    from tests.helpers.smtp_server import SmtpServer

    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def review_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """The HMAC key for approval tokens, in the environment as the test configs expect."""
    from tests.helpers.reviewkit import SECRET, SECRET_ENV

    monkeypatch.setenv(SECRET_ENV, SECRET)
    return SECRET


@pytest.fixture(autouse=True)
def no_listener_left() -> Iterator[None]:
    """A test server a failed test did not close would keep its thread, and the process could not fork."""
    yield
    stop_every_listener()
