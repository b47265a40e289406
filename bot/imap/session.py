"""The IMAP side of a poll: the connection, and reading one folder over it.

A `Session` holds one logged-in IMAPClient (TLS, login) and runs each IMAP
step through `run`: a connection that drops after a successful login is
re-established with backoff (tenacity, imported only when needed) and the
step is run again; any other failure becomes a SourceError with one clear
line (login refused, certificate not trusted, host unknown, folder missing).
`ImapFolderSource` reads a range of UIDs of one folder over a session, with
BODY.PEEK[] on a read-only selection. Which folders and UIDs to read, where
the mail goes and what is remembered is bot/imap/poll.py's business.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from imapclient.exceptions import CapabilityError, LoginError

from bot.errors import ConfigError, SourceError

if TYPE_CHECKING:
    from bot.model import RawMail
    from bot.settings import ImapSettings, Settings

log = logging.getLogger("digestbot.imap")
P = ParamSpec("P")
T = TypeVar("T")

# Reconnect policy after a lost connection: waits of 0.25, 0.5, 1, 2, 4 s.
RETRY_ATTEMPTS = 6
RETRY_FIRST_WAIT = 0.25
RETRY_MAX_WAIT = 8.0
_NETWORK_ERRORS = (OSError, EOFError, imaplib.IMAP4.error)  # ssl.SSLError is an OSError

# UIDs per UID SEARCH: the only per-message list kept in memory is one window's.
SEARCH_WINDOW = 50_000


class FolderError(SourceError):
    """One folder cannot be read (the others still can)."""


class UidValidityChanged(Exception):
    """The folder was recreated between two steps of one pass."""


class ConnectionLost(SourceError):
    """The connection dropped and could not be re-established within the retry budget."""


class _Transient(Exception):
    """The connection dropped or timed out after a successful login: reconnect and retry."""


class Session:
    """One logged-in connection, re-established on demand; maps failures to one-line errors."""

    def __init__(self, imap: ImapSettings, password: str, context: ssl.SSLContext | None,
                 factory: Callable[..., Any]) -> None:
        self.imap = imap
        self.where = f"{imap.host}:{imap.effective_port}"
        self._password = password
        self._context = context
        self._factory = factory
        self._client: Any = None
        self._logged_in_once = False
        self.selected: str | None = None  # the folder selected on the current connection
        self.folder: str | None = None  # the folder being worked on, for error messages

    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
            self._logged_in_once = True
            self.selected = None
        return self._client

    def _connect(self) -> Any:
        imap = self.imap
        client = self._factory(imap.host, imap.effective_port, ssl=imap.tls == "ssl", ssl_context=self._context,
                               timeout=imap.timeout)
        try:
            if imap.tls == "starttls":
                client.starttls(self._context)
            client.login(imap.username, self._password)
        except BaseException:
            with contextlib.suppress(*_NETWORK_ERRORS):
                client.shutdown()
            raise
        return client

    def run(self, op: Callable[Concatenate[Any, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one IMAP step; if the connection drops, reconnect with backoff and run it again."""
        try:
            return self._attempt(op, *args, **kwargs)
        except _Transient as lost:
            log.warning("imap: connection to %s lost (%s); reconnecting", self.where, lost)
        # Imported only now: a poll that loses no connection never pays for tenacity.
        import tenacity

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient), reraise=True,
            wait=tenacity.wait_exponential(multiplier=RETRY_FIRST_WAIT, max=RETRY_MAX_WAIT),
            stop=tenacity.stop_after_attempt(RETRY_ATTEMPTS),
            before_sleep=lambda s: log.info("imap: %s still unreachable (%s); retrying",
                                            self.where, s.outcome.exception() if s.outcome else "?"),
        )
        try:
            result: T = retrying(self._attempt, op, *args, **kwargs)
            return result
        except _Transient as exc:
            raise ConnectionLost(f"imap: lost the connection to {self.where} and could not resume "
                                 f"after {RETRY_ATTEMPTS} attempts: {exc}") from None

    def _attempt(self, op: Callable[Concatenate[Any, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return op(self.client(), *args, **kwargs)
        except (*_NETWORK_ERRORS, socket.gaierror) as exc:
            error = self._classify(exc, self.folder)
            self.drop()
            raise error from None

    def _classify(self, exc: BaseException, folder: str | None) -> Exception:
        """A permanent SourceError with one clear line, or _Transient for a lost connection."""
        imap, reason = self.imap, _reason(exc)
        if isinstance(exc, LoginError):
            return SourceError(f"imap: login failed for user {imap.username} at {self.where}: {reason}")
        if isinstance(exc, CapabilityError) and "STARTTLS" in str(exc):
            return SourceError(f"imap: {self.where} does not offer STARTTLS (source.tls = \"starttls\"): {reason}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return SourceError(f"imap: TLS handshake with {self.where} failed: certificate verify failed: "
                               f"{exc.verify_message or reason} (for a private CA, set source.ca_file)")
        if isinstance(exc, socket.gaierror):
            return SourceError(f"imap: cannot resolve host {imap.host!r}: {exc.strerror}")
        if isinstance(exc, imaplib.IMAP4.abort | OSError | EOFError):
            return _Transient(reason) if self._logged_in_once else self._first_contact(exc, reason)
        if folder and ("NONEXISTENT" in str(exc) or "doesn't exist" in str(exc)):
            return FolderError(f"imap: folder {folder!r} does not exist")
        where = f" on folder {folder!r}" if folder else ""
        return SourceError(f"imap: {self.where} refused a command{where}: {reason}")

    def _first_contact(self, exc: BaseException, reason: str) -> SourceError:
        # Before the first login a failure is the configuration or the server, not a blip:
        # say so at once rather than retrying, and let the next scheduled poll try again.
        if isinstance(exc, TimeoutError):
            return SourceError(f"imap: {self.where} did not answer within {self.imap.timeout:g}s")
        if isinstance(exc, ConnectionRefusedError):
            return SourceError(f"imap: {self.where} refused the connection")
        if isinstance(exc, ssl.SSLError) or (self.imap.tls == "ssl" and isinstance(exc, imaplib.IMAP4.abort)):
            return SourceError(f"imap: TLS handshake with {self.where} failed: {reason}")
        return SourceError(f"imap: cannot talk to {self.where}: {reason}")

    def drop(self) -> None:
        if self._client is not None:
            with contextlib.suppress(*_NETWORK_ERRORS):
                self._client.shutdown()
        self._client = None
        self.selected = None

    def logout(self) -> None:
        if self._client is not None:
            with contextlib.suppress(*_NETWORK_ERRORS):
                self._client.logout()
        self.drop()


def _reason(exc: BaseException) -> str:
    """The server's or the OS's words, without imaplib's b'...' wrapping or response codes."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or exc.__class__.__name__
    text = re.sub(r"b'(.*)'|b\"(.*)\"", lambda m: m.group(1) or m.group(2) or "", text)
    text = re.sub(r"\[[A-Z-]+\]\s*|\s*\[[\w.-]+:\d{4}-\d\d-\d\d [\d:]+\]", "", text)
    return text.strip() or exc.__class__.__name__


def examine(client: Any, folder: str) -> tuple[int, int]:
    """Select `folder` read-only: (UIDVALIDITY, UIDNEXT). The one round trip of a nothing-new poll."""
    info = client.select_folder(folder, readonly=True)
    return int(info[b"UIDVALIDITY"]), int(info.get(b"UIDNEXT", 0))


def status(client: Any, folder: str) -> tuple[int, int]:
    """(UIDVALIDITY, UIDNEXT) of a folder without selecting it."""
    info = client.folder_status(folder, ["UIDVALIDITY", "UIDNEXT"])
    return int(info[b"UIDVALIDITY"]), int(info[b"UIDNEXT"])


def list_status(client: Any) -> dict[str, tuple[int, int]] | None:
    """Every folder's (UIDVALIDITY, UIDNEXT) in one round trip (RFC 5819 LIST-STATUS); None if the server
    cannot. imapclient has no helper for it: the command goes out raw and its STATUS lines are parsed here."""
    from imapclient.imap_utf7 import decode
    from imapclient.response_parser import parse_response

    if not client.has_capability("LIST-STATUS"):
        return None
    args = [b'""', b'"*"', b"RETURN", b"(STATUS", b"(UIDNEXT", b"UIDVALIDITY))"]
    typ, data = client._raw_command(b"LIST", args, uid=False)
    client._imap.untagged_responses.pop("LIST", None)  # the folder list itself: not needed, not kept
    typ, data = client._imap._untagged_response(typ, data, "STATUS")
    client._checkok("list", typ, data)
    parsed = parse_response([item for item in data if item not in (b"", None)])
    found: dict[str, tuple[int, int]] = {}
    for name, items in zip(parsed[::2], parsed[1::2], strict=True):
        values = dict(zip(items[::2], items[1::2], strict=True))
        if b"UIDVALIDITY" in values and b"UIDNEXT" in values:
            folder = str(name) if isinstance(name, int) else decode(name) if client.folder_encode else name
            found[folder if isinstance(folder, str) else folder.decode()] = (int(values[b"UIDVALIDITY"]),
                                                                             int(values[b"UIDNEXT"]))
    return found


def _reselect(client: Any, session: Session, folder: str, uidvalidity: int) -> None:
    """After a reconnect the folder must be selected again, and still be the same folder."""
    if session.selected == folder:
        return
    found, _ = examine(client, folder)
    if found != uidvalidity:
        raise UidValidityChanged(folder)
    session.selected = folder


class ImapFolderSource:
    """The messages of one folder with UIDs in (after, until], oldest first, as RawMail.

    `last_uid` is the UID of the message most recently yielded: once the
    consumer has stored what it took, everything up to it is stored.
    """

    def __init__(self, session: Session, folder: str, uidvalidity: int, *, after: int, until: int,
                 batch_size: int) -> None:
        self.session, self.folder, self.uidvalidity = session, folder, uidvalidity
        self.after, self.until, self.batch_size = after, until, max(1, batch_size)
        self.last_uid = after
        self.total_bytes = 0  # unknown up front (the Source protocol's progress hint)

    def __iter__(self) -> Iterator[RawMail]:
        from bot.model import RawMail  # not at the top: a nothing-new poll never needs it

        for batch in self._batches():
            fetched = self.session.run(self._fetch, batch)
            for uid in batch:
                self.last_uid = uid  # before the yield: the consumer may stop right after it
                raw = fetched.get(uid)
                if raw is not None:  # None: expunged since it was listed
                    yield RawMail(raw, f"imap:{self.folder}/{uid}")

    def _batches(self) -> Iterator[list[int]]:
        low = self.after + 1
        while low <= self.until:
            high = min(low + SEARCH_WINDOW - 1, self.until)
            uids = self.session.run(self._search, low, high)
            for start in range(0, len(uids), self.batch_size):
                yield uids[start : start + self.batch_size]
            low = high + 1

    def _search(self, client: Any, low: int, high: int) -> list[int]:
        _reselect(client, self.session, self.folder, self.uidvalidity)
        # "low:high" matches the highest UID even when it is below low (RFC 3501): filter.
        return sorted(uid for uid in client.search(["UID", f"{low}:{high}"]) if low <= uid <= high)

    def _fetch(self, client: Any, batch: list[int]) -> dict[int, bytes]:
        _reselect(client, self.session, self.folder, self.uidvalidity)
        response = client.fetch(batch, ["BODY.PEEK[]"])  # PEEK: never sets \Seen
        return {uid: data[b"BODY[]"] for uid, data in response.items() if b"BODY[]" in data}


def open_session(settings: Settings, client_factory: Callable[..., Any]) -> Session:
    """A Session for settings.source (not connected yet); ConfigError for a missing or unreadable setting."""
    return Session(settings.source, _password(settings.source), _ssl_context(settings), client_factory)


def _password(imap: ImapSettings) -> str:
    if not imap.host:
        raise ConfigError("source.host: not set (the IMAP server that receives the list)")
    if not imap.username:
        raise ConfigError("source.username: not set")
    if not imap.folders:
        raise ConfigError("source.folders: name at least one folder")
    return imap.password.reveal("source")


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    imap = settings.source
    if imap.tls == "none":
        log.warning("imap: source.tls = \"none\": the password and the mail cross the network unencrypted")
        return None
    cafile = imap.ca_file  # relative names are resolved against the config's folder when it loads
    try:
        # Verification stays on: a self-signed server needs its CA named in source.ca_file.
        return ssl.create_default_context(cafile=cafile or None)
    except OSError as exc:
        raise ConfigError(f"source.ca_file: cannot load {cafile}: {_reason(exc)}") from None
