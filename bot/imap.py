"""Follow a mailing list over IMAP, as any subscriber does: incremental, resumable, read-only.

Per folder the store remembers UIDVALIDITY and the highest UID stored, so a
poll with nothing new costs one EXAMINE and no FETCH. New mail is fetched in
batches with BODY.PEEK[] on a read-only selection (the subscriber's mail is
never marked read) and streamed into `ingest`; the sync state moves forward
after every stored batch, so a poll killed at any point resumes where it
stopped. A dropped connection is reconnected with backoff (tenacity) and the
interrupted step is retried; messages are keyed by Message-ID, so a re-read
stores nothing twice.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, LoginError

from bot.errors import ConfigError, SourceError
from bot.syncstate import SyncState, open_sync_state, sqlite_path

if TYPE_CHECKING:
    from bot.model import RawMail
    from bot.settings import ImapSettings, Settings
    from bot.store import Store

log = logging.getLogger("digestbot.imap")
P = ParamSpec("P")
T = TypeVar("T")

# Reconnect policy after a lost connection: waits of 0.25, 0.5, 1, 2, 4 s.
RETRY_ATTEMPTS = 6
RETRY_FIRST_WAIT = 0.25
RETRY_MAX_WAIT = 8.0
# UIDs per UID SEARCH: the only per-message list kept in memory is one window's.
SEARCH_WINDOW = 50_000
_NETWORK_ERRORS = (OSError, EOFError, imaplib.IMAP4.error)  # ssl.SSLError is an OSError


class FolderError(SourceError):
    """One folder cannot be read (the others still can)."""


class ConnectionLost(SourceError):
    """The connection dropped and could not be re-established within the retry budget."""


class _Transient(Exception):
    """The connection dropped or timed out after a successful login: reconnect and retry."""


class _UidValidityChanged(Exception):
    """The folder was recreated between two steps of one pass."""


@dataclass
class FolderReport:
    folder: str
    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    last_uid: int = 0
    resynced: bool = False

    def line(self) -> str:
        if not self.fetched and not self.resynced:
            return f"{self.folder}: nothing new"
        note = " (UIDVALIDITY changed: folder re-read)" if self.resynced else ""
        return f"{self.folder}: {self.new} new ({self.duplicates} already stored), last UID {self.last_uid}{note}"


@dataclass
class PollReport:
    folders: list[FolderReport] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(f.new for f in self.folders)

    def line(self) -> str:
        return "; ".join(f.line() for f in self.folders) or "no folders polled"


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


def _reselect(client: Any, session: Session, folder: str, uidvalidity: int) -> None:
    """After a reconnect the folder must be selected again, and still be the same folder."""
    if session.selected == folder:
        return
    found, _ = examine(client, folder)
    if found != uidvalidity:
        raise _UidValidityChanged(folder)
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


class Poller:
    """Polls folders into the store over one Session; made and closed by `poll`."""

    def __init__(self, settings: Settings, store_factory: Callable[[str], Store],
                 client_factory: Callable[..., Any]) -> None:
        self.settings, self.imap = settings, settings.source
        self.session = Session(self.imap, _password(self.imap), _ssl_context(settings), client_factory)
        self._store_factory = store_factory
        self._store: Store | None = None
        url = settings.store_url
        # The light sqlite3 state keeps SQLAlchemy out of a nothing-new poll; other databases need the Store.
        self.state: SyncState = open_sync_state(url, None if sqlite_path(url) else self.store())

    def store(self) -> Store:
        if self._store is None:
            self._store = self._store_factory(self.settings.store_url)
        return self._store

    def close(self) -> None:
        self.session.logout()
        self.state.close()
        if self._store is not None:
            self._store.engine.dispose()

    def pending_archives(self) -> tuple[str, ...]:
        """Archive folders not yet read to the end once (they are read once, to backfill)."""
        return tuple(f for f in self.imap.archive_folders if not ((s := self.state.get(f)) and s.last_poll_at))

    def poll_all(self, folders: tuple[str, ...]) -> PollReport:
        report, failures = PollReport(), {}
        for index, folder in enumerate(folders):
            try:
                report.folders.append(self.sync(folder))
            except FolderError as exc:  # the other folders can still be read
                failures[folder] = str(exc)
            except SourceError as exc:
                self._failed(dict.fromkeys(folders[index:], str(exc)))
                raise
        if failures:
            self._failed(failures)  # now, when an earlier folder may have created the store
            if report.folders:
                log.info("imap: %s", report.line())
            raise FolderError("; ".join(failures.values()))
        return report

    def _failed(self, errors: dict[str, str]) -> None:
        """Keep each folder's error for `status`; the state keeps the progress made before it."""
        if not self.state.ready():
            self.store()  # the very first poll failed: create the store, so that `status` can tell
        for folder, error in errors.items():
            self.state.failed(folder, error)

    def sync(self, folder: str, *, by_status: bool = False) -> FolderReport:
        self.session.folder = folder
        for _ in range(3):
            try:
                return self._sync(folder, by_status=by_status)
            except _UidValidityChanged:
                log.warning("imap: folder %r was recreated during the poll; reading it again", folder)
        raise FolderError(f"imap: folder {folder!r} keeps changing its UIDVALIDITY; try again later")

    def _sync(self, folder: str, *, by_status: bool) -> FolderReport:
        known = self.state.get(folder)
        if by_status and known is not None:  # STATUS leaves the IDLE folder selected
            validity, uidnext = self.session.run(status, folder)
            if validity == known.uidvalidity and uidnext <= known.last_uid + 1:
                self._remember(folder, validity, known.last_uid)
                return FolderReport(folder, last_uid=known.last_uid)
        uidvalidity, uidnext = self.session.run(examine, folder)
        self.session.selected = folder
        resynced = known is not None and known.uidvalidity is not None and known.uidvalidity != uidvalidity
        last = known.last_uid if known and known.uidvalidity == uidvalidity else 0
        if resynced:
            log.warning("imap: %s: UIDVALIDITY changed (%s -> %s): reading the folder again "
                        "(stored messages are kept and not duplicated)", folder, known and known.uidvalidity,
                        uidvalidity)
        report = FolderReport(folder, last_uid=last, resynced=resynced)
        if uidnext <= last + 1:
            self._remember(folder, uidvalidity, last)
            return report
        from bot.ingest import ingest  # only now: parsing and SQLAlchemy are heavy imports

        # Below UIDNEXT every UID is either listed now or gone for good (RFC 3501), so the
        # pass covers (last, UIDNEXT-1]; later arrivals are the next poll's.
        source = ImapFolderSource(self.session, folder, uidvalidity, after=last, until=uidnext - 1,
                                  batch_size=self.imap.batch_size)
        # ingest calls on_progress once the messages it has taken so far are stored.
        done = ingest(self.store(), source, self.settings.limits, expected=uidnext - 1 - last,
                      on_progress=lambda _bytes: self.state.progress(folder, uidvalidity, source.last_uid))
        report.fetched, report.new, report.duplicates = done.read, done.new, done.duplicates
        report.last_uid = uidnext - 1
        self.state.polled(folder, uidvalidity, report.last_uid)
        return report

    def _remember(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        if not self.state.ready():  # first poll ever, of an empty folder: the store makes the schema
            self.store()
        self.state.polled(folder, uidvalidity, last_uid)

    def watch(self, folders: tuple[str, ...], on_cycle: Callable[[PollReport], bool], *, busy: bool) -> PollReport:
        """Poll again whenever IDLE reports new mail in the first folder (or every idle_seconds).

        A quiet cycle costs one command: IDLE. Other folders cost one STATUS
        per cycle; without IDLE, every folder costs one EXAMINE. After a cycle that
        fetched mail (`busy`), the next one re-checks at once instead of
        IDLE-ing: mail that arrived meanwhile would only show when IDLE ends.
        """
        total, first = PollReport(), folders[0]
        idle = self.session.run(_has_idle)
        while True:
            try:
                if busy or not idle:
                    changed = busy or _sleep(self.imap.idle_seconds)
                else:
                    changed = self.session.run(self._idle, first)
                report = PollReport([self._untouched(f) if f == first and not changed
                                     else self.sync(f, by_status=idle and f != first) for f in folders])
            except ConnectionLost as exc:
                self._failed(dict.fromkeys(folders, str(exc)))
                pause = min(self.imap.idle_seconds, 60)
                log.error("%s; trying again in %ss", exc, pause)
                time.sleep(pause)
                continue
            except SourceError as exc:
                self._failed({self.session.folder or first: str(exc)})
                raise
            busy = any(r.fetched for r in report.folders)
            total.folders.extend(r for r in report.folders if r.fetched)
            if not on_cycle(report):
                return total

    def _untouched(self, folder: str) -> FolderReport:
        known = self.state.get(folder)
        if known is not None and known.uidvalidity is not None:
            self.state.polled(folder, known.uidvalidity, known.last_uid)  # the poll happened; no IMAP needed
        return FolderReport(folder, last_uid=known.last_uid if known else 0)

    def _idle(self, client: Any, folder: str) -> bool:
        """IDLE until the server reports new mail (True) or idle_seconds pass (False)."""
        if self.session.selected != folder:
            examine(client, folder)
            self.session.selected = folder
        client.idle()
        try:
            deadline = time.monotonic() + self.imap.idle_seconds
            while (left := deadline - time.monotonic()) > 0:
                responses = client.idle_check(timeout=left)
                if _has_new_mail(responses):
                    return True
                if not responses and deadline - time.monotonic() > 0.05:
                    # idle_check swallows EOF and returns early with nothing: the
                    # connection is gone, and idle_done below will say so.
                    return True
        finally:
            _text, late = client.idle_done()
        # Mail that arrived just before IDLE began is reported only now, when it ends.
        return _has_new_mail(late)


def _has_new_mail(responses: list[Any]) -> bool:
    return any(len(r) > 1 and r[1] == b"EXISTS" for r in responses)


def _has_idle(client: Any) -> bool:
    return bool(client.has_capability("IDLE"))


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True


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
    cafile = imap.ca_file
    if cafile and not Path(cafile).is_absolute() and settings.config_path:
        cafile = str(Path(settings.config_path).parent / cafile)
    try:
        # Verification stays on: a self-signed server needs its CA named in source.ca_file.
        return ssl.create_default_context(cafile=cafile or None)
    except OSError as exc:
        raise ConfigError(f"source.ca_file: cannot load {cafile}: {_reason(exc)}") from None


def _open_store(url: str) -> Store:
    from bot.store import open_store

    return open_store(url)


def poll(settings: Settings, *, watch: bool = False, folders: tuple[str, ...] = (),
         store_factory: Callable[[str], Store] | None = None, client_factory: Callable[..., Any] = IMAPClient,
         on_cycle: Callable[[PollReport], bool] | None = None) -> PollReport:
    """Fetch what is new in the configured folders (or just `folders`) into the store.

    With `watch`, stay connected afterwards and poll again as mail arrives,
    until `on_cycle` (called with the first poll's report, then each cycle's)
    returns False.
    Raises SourceError (one clear line) or ConfigError; the sync state keeps
    the error and everything stored before it, for the next poll.
    """
    poller = Poller(settings, store_factory or _open_store, client_factory)
    try:
        chosen = folders or settings.source.folders
        report = poller.poll_all(chosen + (() if folders else poller.pending_archives()))
        keep_going = on_cycle or (lambda _report: True)
        if watch and keep_going(report):
            busy = any(f.fetched for f in report.folders)
            report = PollReport(report.folders + poller.watch(chosen, keep_going, busy=busy).folders)
        return report
    finally:
        poller.close()
