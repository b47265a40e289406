"""Follow a mailing list over IMAP, as any subscriber does: incremental, resumable, read-only.

Per folder the store remembers UIDVALIDITY and the highest UID stored, so a
poll with nothing new costs one EXAMINE and no FETCH. New mail is fetched in
batches with BODY.PEEK[] on a read-only selection (the subscriber's mail is
never marked read) and streamed into `ingest`; the sync state moves forward
after every stored batch, so a poll killed at any point resumes where it
stopped. A dropped connection is reconnected with backoff (bot/imap/session.py)
and the interrupted step is retried; messages are keyed by Message-ID, so a
re-read stores nothing twice. Mail addressed to the bot (the chair's review
answers, unsubscribe requests) is not list traffic: the caller's `bot_mail`
filter (bot.review.inbox wires in bot.review.replies) takes it out of the
stream and acts on it before the sync state moves past it. Passing it in keeps
this stage below the review stage it serves.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from imapclient import IMAPClient

from bot.errors import SourceError
from bot.imap.session import (
    ConnectionLost,
    FolderError,
    ImapFolderSource,
    Session,
    UidValidityChanged,
    examine,
    list_status,
    open_session,
    status,
)
from bot.store import open_sync_state, sqlite_path
from bot.store.syncstate import SyncState

if TYPE_CHECKING:
    from bot.model import RawMail
    from bot.settings import Settings
    from bot.store.database import Store

__all__ = ["ConnectionLost", "FolderError", "FolderReport", "ImapFolderSource", "PollReport", "Poller", "Session",
           "poll"]

log = logging.getLogger("digestbot.imap")


class Handled(Protocol):
    @property
    def action(self) -> str: ...


class BotMailFilter(Protocol):
    """Takes the bot's own mail out of a folder's stream; `flush` acts on what it took."""

    @property
    def results(self) -> Sequence[Handled]: ...

    def filter(self, mails: Iterable[RawMail]) -> Iterator[RawMail]: ...

    def flush(self) -> object: ...


# Made once per poll (when the first folder has new mail), given the poller's lazy store opener; each
# folder pass flushes it before its sync state moves on. Once, not per folder: with [[lists]] making one
# reads every list's bot addresses, and a first sync of 10,000 folders made it 10,000 times.
BotMailFactory = Callable[[Callable[[], "Store"]], BotMailFilter]


class _NoBotMail:
    """Without a filter every message is list traffic."""

    results: tuple[Handled, ...] = ()

    def __init__(self, _store: Callable[[], Store]) -> None:
        pass

    def filter(self, mails: Iterable[RawMail]) -> Iterator[RawMail]:
        return iter(mails)

    def flush(self) -> None:
        return None


@dataclass
class FolderReport:
    folder: str
    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    last_uid: int = 0
    resynced: bool = False
    for_bot: dict[str, int] = field(default_factory=dict)  # mail to the bot, not stored: action -> count

    def line(self) -> str:
        if not self.fetched and not self.resynced:
            return f"{self.folder}: nothing new"
        note = " (UIDVALIDITY changed: folder re-read)" if self.resynced else ""
        if self.for_bot:
            acts = ", ".join(f"{n} {action}" for action, n in sorted(self.for_bot.items()))
            note = f", {sum(self.for_bot.values())} to the bot ({acts}){note}"
        return f"{self.folder}: {self.new} new ({self.duplicates} already stored), last UID {self.last_uid}{note}"


@dataclass
class PollReport:
    folders: list[FolderReport] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(f.new for f in self.folders)

    def line(self) -> str:
        return "; ".join(f.line() for f in self.folders) or "no folders polled"


class Poller:
    """Polls folders into the store over one Session; made and closed by `poll`."""

    def __init__(self, settings: Settings, store_factory: Callable[[str], Store],
                 client_factory: Callable[..., Any], bot_mail: BotMailFactory | None = None) -> None:
        self.settings, self.imap, self.bot_mail = settings, settings.source, bot_mail or _NoBotMail
        self.session = open_session(settings, client_factory)
        self._store_factory = store_factory
        self._store: Store | None = None
        self._bot_mail: BotMailFilter | None = None
        # Which lists each folder's mail belongs to. A folder no list names (--folder, or with [[lists]] the
        # [source] folders the bot's own mail arrives in): a single list's; with [[lists]], no list's.
        self.lists_of = settings.lists_of_folder()
        self.first_list = (settings.lists[0].store_list,)
        self.unlisted: tuple[str, ...] = () if settings.entries else self.first_list
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
        # Many folders polled before: what changed, asked of all of them at once (LIST-STATUS: a round trip,
        # and one for the capabilities); only the folders that changed get an EXAMINE.
        known = {state.folder for state in self.state.all()}.intersection(folders)
        found: dict[str, tuple[int, int]] | None = self.session.run(list_status) if len(known) > 2 else None
        listed = found or {}
        for index, folder in enumerate(folders):
            try:
                report.folders.append(self.sync(folder, listed=listed.get(folder)))
            except FolderError as exc:  # the other folders can still be read
                failures[folder] = str(exc)
            except SourceError as exc:
                self._failed(dict.fromkeys(folders[index:], str(exc)))
                raise
        self._parse_leftovers()
        if failures:
            self._failed(failures)  # now, when an earlier folder may have created the store
            if report.folders:
                log.info("imap: %s", report.line())
            raise FolderError("; ".join(failures.values()))
        return report

    def _parse_leftovers(self) -> None:
        """What a killed poll stored but did not parse yet, when this poll had nothing new to ingest."""
        if self.state.ready() and self.state.unparsed():
            from bot.mail.ingest import ingest

            ingest(self.store(), [], self.settings.limits, expected=0)

    def _failed(self, errors: dict[str, str]) -> None:
        """Keep each folder's error for `status`; the state keeps the progress made before it."""
        if not self.state.ready():
            self.store()  # the very first poll failed: create the store, so that `status` can tell
        for folder, error in errors.items():
            self.state.failed(folder, error)

    def sync(self, folder: str, *, by_status: bool = False, listed: tuple[int, int] | None = None) -> FolderReport:
        """Fetch what is new in `folder`; `listed`: its (UIDVALIDITY, UIDNEXT) as LIST-STATUS gave them."""
        self.session.folder = folder
        for _ in range(3):
            try:
                return self._sync(folder, by_status=by_status, listed=listed)
            except UidValidityChanged:
                listed = None
                log.warning("imap: folder %r was recreated during the poll; reading it again", folder)
        raise FolderError(f"imap: folder {folder!r} keeps changing its UIDVALIDITY; try again later")

    def _sync(self, folder: str, *, by_status: bool, listed: tuple[int, int] | None) -> FolderReport:
        known = self.state.get(folder)
        if (by_status or listed) and known is not None:  # STATUS leaves the IDLE folder selected
            validity, uidnext = listed or self.session.run(status, folder)
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
        # Only now: parsing, SQLAlchemy and the review code are heavy imports.
        from bot.mail.ingest import ingest
        # Below UIDNEXT every UID is either listed now or gone for good (RFC 3501), so the
        # pass covers (last, UIDNEXT-1]; later arrivals are the next poll's.
        source = ImapFolderSource(self.session, folder, uidvalidity, after=last, until=uidnext - 1,
                                  batch_size=self.imap.batch_size)
        # Mail to the bot (the chair's replies, unsubscribes) stays out of the list's store and is
        # acted on before the sync state moves past it: a poll killed in between reads it again.
        if self._bot_mail is None:
            self._bot_mail = self.bot_mail(self.store)
        bot_mail, handled_before = self._bot_mail, len(self._bot_mail.results)

        def advance(_bytes: int) -> None:  # ingest calls this once what it has taken so far is stored
            bot_mail.flush()
            self.state.progress(folder, uidvalidity, source.last_uid)

        done = ingest(self.store(), bot_mail.filter(source), self.settings.limits, expected=uidnext - 1 - last,
                      on_progress=advance, lists=self._lists(folder))
        bot_mail.flush()  # the bot's mail after the last list batch
        handled = bot_mail.results[handled_before:]  # this folder's
        for result in handled:
            report.for_bot[result.action] = report.for_bot.get(result.action, 0) + 1
        report.fetched, report.new, report.duplicates = done.read + len(handled), done.new, done.duplicates
        report.last_uid = uidnext - 1
        self.state.polled(folder, uidvalidity, report.last_uid)
        return report

    def _lists(self, folder: str) -> tuple[str, ...] | None:
        """The lists `folder`'s mail joins; None: the store's own (the first list's, as `poll` opens it)."""
        lists = self.lists_of.get(folder, self.unlisted)
        return None if lists == self.first_list else lists

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


def _open_store(url: str, list_name: str) -> Store:
    from bot.store.database import open_store

    return open_store(url, list_name)


def poll(settings: Settings, *, watch: bool = False, folders: tuple[str, ...] = (),
         store_factory: Callable[[str], Store] | None = None, client_factory: Callable[..., Any] = IMAPClient,
         on_cycle: Callable[[PollReport], bool] | None = None,
         bot_mail: BotMailFactory | None = None) -> PollReport:
    """Fetch what is new in the configured folders (or just `folders`) into the store.

    `bot_mail` (see bot.review.inbox) takes the mail addressed to the bot
    itself out of the stream and acts on it; without it all mail is stored.

    With `watch`, stay connected afterwards and poll again as mail arrives,
    until `on_cycle` (called with the first poll's report, then each cycle's)
    returns False.
    Raises SourceError (one clear line) or ConfigError; the sync state keeps
    the error and everything stored before it, for the next poll.
    """
    first = settings.lists[0].store_list  # a store from before lists gives its rows to the first list
    poller = Poller(settings, store_factory or functools.partial(_open_store, list_name=first), client_factory,
                    bot_mail)
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
