"""One SMTP session: TLS by default, AUTH, timeouts, and an honest outcome per recipient.

Each recipient is its own transaction (MAIL, RCPT, DATA), and the outcome
says what we know about it: sent (250 after DATA), deferred (a 4xx, or the
connection failed before DATA: retry later), failed (a 5xx: do not retry),
or unknown (the connection broke while the message was in flight: it may
have been delivered, so it is never retried).

The password is read from the environment or a file when logging in and is
never logged, stored or put in an exception.
"""

from __future__ import annotations

import ipaddress
import logging
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from enum import StrEnum
from types import TracebackType

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from bot.errors import ConfigError, SendError
from bot.settings import SmtpSettings

log = logging.getLogger("digestbot.send")


class Outcome(StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    detail: str = ""


class _Transient(Exception):
    """A connection attempt worth repeating (refused, reset, 4xx greeting)."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:300]


def _classify(code: int, reply: bytes | str, stage: str) -> Result:
    detail = f"{stage}: {code} {_reply_text(reply)}".rstrip()
    if 500 <= code < 600:
        return Result(Outcome.FAILED, detail)
    return Result(Outcome.DEFERRED, detail)  # 4xx, or a reply that makes no sense: try later


class Mailer:
    """An SMTP connection opened on first use and reused for every recipient."""

    def __init__(self, settings: SmtpSettings, *, connect_attempts: int = 3, connect_wait: float = 1.0) -> None:
        if not settings.host:
            raise ConfigError("smtp.host is not configured")
        if settings.username and settings.tls == "none" and not _is_loopback(settings.host):
            raise SendError(f"not sending the SMTP password in clear text to {settings.host}; "
                            "use smtp.tls = \"starttls\" or \"ssl\"")
        self.settings = settings
        self.connect_attempts = connect_attempts
        self.connect_wait = connect_wait
        self._conn: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()

    # -- connecting -----------------------------------------------------------

    def _connection(self) -> smtplib.SMTP:
        if self._conn is None:
            retrying = Retrying(
                stop=stop_after_attempt(self.connect_attempts),
                wait=wait_exponential(multiplier=self.connect_wait, max=30),
                retry=retry_if_exception_type(_Transient), reraise=True,
            )
            try:
                self._conn = retrying(self._open)
            except _Transient as exc:
                raise SendError(f"cannot connect to SMTP server {self._where()}: {exc}") from None
        return self._conn

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.effective_port}"

    def _tls_failed(self, exc: ssl.SSLError) -> SendError:
        if isinstance(exc, ssl.SSLCertVerificationError):  # verification is on unless a CA file says whom to trust
            found = f": {exc.verify_message}" if exc.verify_message else ""
            return SendError(f"TLS with SMTP server {self._where()} failed: certificate verify failed{found} "
                             "(for a private CA, set smtp.ca_file)")
        return SendError(f"TLS with SMTP server {self._where()} failed: {exc.reason or exc}")

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.tls == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.effective_port, timeout=s.timeout,
                                                      context=self._tls_context())
            else:
                conn = smtplib.SMTP(s.host, s.effective_port, timeout=s.timeout)
        except smtplib.SMTPConnectError as exc:
            raise _Transient(f"greeting {exc.smtp_code} {_reply_text(exc.smtp_error)}") from None
        except ssl.SSLError as exc:
            raise self._tls_failed(exc) from None
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise _Transient(getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__) from None
        try:
            self._secure_and_login(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        # Only when TLS is asked for: loading the system's CAs cost 6-7% of a plain relay's many-list drafting.
        return ssl.create_default_context(cafile=self.settings.ca_file or None)

    def _secure_and_login(self, conn: smtplib.SMTP) -> None:
        s = self.settings
        try:
            conn.ehlo()
            if s.tls == "starttls":
                if not conn.has_extn("starttls"):
                    raise SendError(f"SMTP server {self._where()} does not offer STARTTLS; "
                                    "not sending in clear text (set smtp.tls = \"none\" to allow it)")
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if s.username:
                self._login(conn)
        except ssl.SSLError as exc:
            raise self._tls_failed(exc) from None
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise _Transient(getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__) from None

    def _login(self, conn: smtplib.SMTP) -> None:
        s = self.settings
        password = s.password.reveal("smtp")
        try:
            conn.login(s.username, password)
        except smtplib.SMTPAuthenticationError as exc:
            # The server's reply only: smtplib never puts the password in it.
            reply = f"{exc.smtp_code} {_reply_text(exc.smtp_error)}"
            raise SendError(f"SMTP login as {s.username} refused: {reply}") from None
        except smtplib.SMTPException as exc:
            raise SendError(f"SMTP login as {s.username} failed: {exc.__class__.__name__}") from None
        finally:
            del password

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- sending --------------------------------------------------------------

    def deliver(self, raw: bytes, sender: str, recipient: str, *,
                before_data: Callable[[], None] = lambda: None) -> Result:
        """One transaction for one recipient; `before_data` runs at the point of no return.

        Raises SendError only when no connection can be had at all (nothing was sent).
        """
        for fresh in (False, True):
            conn = self._connection()
            try:
                refused = self._envelope(conn, sender, recipient)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                # Dropped before DATA (e.g. an idle timeout): nothing was sent, start again once.
                self._drop()
                if fresh:
                    return Result(Outcome.DEFERRED, f"connection lost before DATA: {exc.__class__.__name__}")
                continue
            if refused is not None:
                return refused
            break
        before_data()
        try:
            # data() raises for a refused DATA command but returns the final reply, whatever it is.
            code, reply = conn.data(raw)
        except smtplib.SMTPDataError as exc:
            self._reset(conn)
            return _classify(exc.smtp_code, exc.smtp_error, "DATA")
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Result(Outcome.UNKNOWN, f"connection lost during DATA: {exc.__class__.__name__}")
        if code != 250:
            self._reset(conn)
            return _classify(code, reply, "end of DATA")
        return Result(Outcome.SENT, "250")

    def _envelope(self, conn: smtplib.SMTP, sender: str, recipient: str) -> Result | None:
        code, reply = conn.mail(sender)
        if code != 250:
            self._reset(conn)
            return _classify(code, reply, "MAIL FROM")
        code, reply = conn.rcpt(recipient)
        if code not in (250, 251):
            self._reset(conn)
            return _classify(code, reply, "RCPT TO")
        return None

    def _reset(self, conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def send_message(self, msg: EmailMessage, recipients: Sequence[str]) -> None:
        """Send a one-off mail (review, reminder, notice); raise SendError unless all took it."""
        sender = parseaddr(str(msg["From"]))[1]
        raw = msg.as_bytes()
        for recipient in recipients:
            result = self.deliver(raw, sender, recipient)
            if result.outcome is not Outcome.SENT:
                raise SendError(f"mail to {recipient} not sent: {result.detail}")
