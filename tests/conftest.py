"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dovecot import Dovecot


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
