"""A real SMTP server for the delivery tests: aiosmtpd on a free 127.0.0.1 port.

It records every message it accepts (envelope and bytes), and can be told to
answer a recipient with a 4xx or 5xx, to require AUTH, to speak TLS (implicit
or STARTTLS, with a trustme certificate), or to run a hook when a RCPT or a
DATA arrives (the crash tests kill the sending process from there).
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class Handler:
    """aiosmtpd handler: records accepted mail; replies and hooks per recipient."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> "550 no such user"
    data_replies: dict[str, str] = field(default_factory=dict)  # address -> "451 try later"
    on_rcpt: Callable[[str], None] | None = None
    on_data: Callable[[Received], None] | None = None
    hang_up_after_data: bool = False  # take the message, then drop the connection before answering
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if self.on_rcpt is not None:
            self.on_rcpt(address)
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for address in envelope.rcpt_tos:
            reply = self.data_replies.get(address.lower())
            if reply:
                return reply
        got = Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content))
        with self.lock:
            self.received.append(got)
        if self.on_data is not None:
            self.on_data(got)
        if self.hang_up_after_data:
            server.transport.abort()
        return "250 OK queued"


class SmtpServer:
    """One aiosmtpd Controller; `tls` is "none", "starttls" (required) or "ssl" (implicit)."""

    def __init__(self, *, tls: Literal["none", "starttls", "ssl"] = "none", cert_dir: Path | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.handler = Handler()
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls = tls
        self.auth = auth
        self.logins: list[str] = []
        self.ca_file: Path | None = None
        kwargs: dict[str, Any] = {}
        if tls != "none":
            assert cert_dir is not None, "TLS needs a directory for the certificates"
            context = self._certificates(cert_dir)
            kwargs.update({"ssl_context": context} if tls == "ssl" else {"tls_context": context,
                                                                          "require_starttls": True})
        if auth is not None:
            # With implicit TLS aiosmtpd does not know the session is encrypted: do not ask it to check.
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=tls == "starttls")
        self.controller = Controller(self.handler, hostname=self.host, port=self.port, **kwargs)

    def _certificates(self, base: Path) -> ssl.SSLContext:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = base / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.auth
        if isinstance(data, LoginPassword):
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def recipients(self) -> list[str]:
        """Every envelope recipient of every accepted message, in order (duplicates kept)."""
        return [rcpt for got in self.received for rcpt in got.rcpt_tos]

    def to(self, address: str) -> list[Received]:
        return [got for got in self.received if address in got.rcpt_tos]
