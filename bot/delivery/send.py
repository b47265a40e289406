"""Delivery of approved digests: exactly once per (digest, recipient), or said out loud.

The `deliveries` table is the ledger. The first `send` of a digest writes one
`pending` row per recipient (the list address, or each active subscriber),
all at once. Then, per recipient and in its own SMTP transaction:

    pending/deferred --RCPT accepted--> sending --250--> sent
                                                  --4xx--> deferred (retried later, with backoff)
                                                  --5xx--> failed (the chair is told)

`sending` is written just before DATA, the point of no return: a crash
before it leaves the row pending (the server threw the transaction away, so
sending again is safe), and a crash after it leaves the row `sending`. Such
a row is ambiguous (the server may have queued the message before we wrote
`sent`), and we resolve it toward "never twice": the next `send` marks it
`unknown`, does not resend it, and tells the chair. Runs hold a file lock,
so a `sending` row seen by a run is always a dead run's.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr

from bot.errors import ConfigError, SendError
from bot.mail.smtp import Mailer, Outcome, Result
from bot.publish.names import page_url
from bot.render.message import bot_address
from bot.review import lifecycle
from bot.review.mail import digest_message
from bot.review.notify import secret, tell_chair
from bot.review.roster import members, unsubscribe_header
from bot.settings import Settings
from bot.store.database import Store, now
from bot.store.deliveries import Delivery
from bot.store.locks import holding, lock_path

log = logging.getLogger("digestbot.send")
OPEN_ROWS = ("pending", "deferred", "sending")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for 4xx: base * 2**(attempts-1), capped; then give up (failed)."""

    base: timedelta = timedelta(minutes=5)
    cap: timedelta = timedelta(hours=6)
    max_attempts: int = 10

    def next_try(self, attempts: int, last: datetime) -> datetime:
        delay: timedelta = min(self.cap, self.base * (2 ** max(0, attempts - 1)))
        return last + delay


@dataclass(slots=True)
class DigestReport:
    digest_id: int
    subject: str
    recipients: int = 0
    sent: list[str] = field(default_factory=list)
    deferred: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    waiting: int = 0  # deferred rows whose next try is later
    done: bool = False
    problem: str = ""

    def line(self) -> str:
        if self.problem:
            return f"#{self.digest_id} {self.subject}: {self.problem}"
        counts = [f"sent to {len(self.sent)} of {self.recipients}"]
        counts += [f"{len(rows)} {name}" for name, rows in
                   (("deferred", self.deferred), ("failed", self.failed), ("unknown", self.unknown)) if rows]
        if self.waiting:
            counts.append(f"{self.waiting} waiting to retry")
        state = "done" if self.done else "not finished"
        return f"#{self.digest_id} {self.subject}: {', '.join(counts)} ({state})"


@dataclass(slots=True)
class SendReport:
    digests: list[DigestReport] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [d.line() for d in self.digests] or ["nothing to send"]


def send_approved(store: Store, settings: Settings, *, via: lifecycle.Via = "cli", mailer: Mailer | None = None,
                  retry: RetryPolicy | None = None, at: datetime | None = None) -> SendReport:
    """Send every approved digest that is not (completely) sent yet; finish interrupted runs."""
    retry = retry or RetryPolicy()
    report = SendReport()
    with _send_lock(settings):
        interrupted = _resolve_interrupted(store)
        todo = lifecycle.drafts(store, ("approved",))
        if not todo and not interrupted:
            return report  # no SMTP connection (nor configuration) needed for nothing
        if settings.smtp.mode == "roster":
            secret(settings)  # a missing key is a config error before any delivery row is written
        with contextlib.nullcontext(mailer) if mailer else Mailer(settings.smtp) as smtp:
            for draft in todo:
                report.digests.append(_send_digest(store, settings, draft, smtp, retry, at or now(), via))
            _tell_chair_about_problems(settings, smtp, report, interrupted)
    return report


@contextlib.contextmanager
def _send_lock(settings: Settings) -> Iterator[None]:
    def busy() -> SendError:
        return SendError("another `digestbot send` is running; try again when it is done")

    with holding(lock_path(settings, "send"), 0, busy):
        yield


def _resolve_interrupted(store: Store) -> list[tuple[int, str]]:
    """Rows a dead run left in `sending`: maybe delivered, so never again (see module doc)."""
    rows = store.deliveries.settle_in_flight(now(), "interrupted during DATA: may have been delivered; not resent")
    for digest_id, recipient in rows:
        log.warning("delivery of #%d to %s was interrupted in flight; marked unknown, not resent", digest_id, recipient)
    return rows


def _recipients(store: Store, settings: Settings) -> list[str]:
    if settings.smtp.mode == "list":
        if not settings.list.address:
            raise ConfigError("smtp.mode is \"list\" but list.address is not configured")
        return [parseaddr(settings.list.address)[1]]
    return [m.address for m in members(store)]


def _ensure_rows(store: Store, settings: Settings, draft: lifecycle.Draft) -> bool:
    """Write the recipient list once, in one transaction; False if the draft moved on."""
    with store.transaction() as tx:
        current = lifecycle.get(store, draft.id, tx)
        if current.state != "approved" or current.revision != draft.revision:
            return False
        if tx.deliveries.started(draft.id):
            return True
        # Approved at this revision is checked again as the rows are written: a CLI reject or edit may
        # commit after the read above on a database that lets it (PostgreSQL).
        return tx.deliveries.add_pending(draft.id, draft.revision, _recipients(store, settings), now())


def _rows(store: Store, digest_id: int) -> list[Delivery]:
    return store.deliveries.of_digest(digest_id)


def _send_digest(store: Store, settings: Settings, draft: lifecycle.Draft, smtp: Mailer, retry: RetryPolicy,
                 at: datetime, via: lifecycle.Via) -> DigestReport:
    rev = lifecycle.revision(store, draft.id)
    report = DigestReport(draft.id, rev.parts.subject)
    if not _ensure_rows(store, settings, draft):
        report.problem = "changed while sending began; skipped"
        return report
    rows = _rows(store, draft.id)
    report.recipients = len(rows)
    if not rows:
        report.problem = "no active subscribers; nothing sent (still approved)"
        return report
    key = secret(settings) if settings.smtp.mode == "roster" else ""
    for row in rows:
        if row.state == "deferred" and retry.next_try(row.attempts, row.updated_at) > at:
            report.waiting += 1
            continue
        if row.state not in ("pending", "deferred"):
            continue
        headers = {"List-Unsubscribe": unsubscribe_header(settings, key, row.recipient)} if key else {}
        to = settings.list.address if settings.smtp.mode == "list" else row.recipient
        msg = digest_message(rev.parts, settings, message_id=draft.mail_message_id, to=to, date=now(), headers=headers,
                             web_url=page_url(settings.publish.base_url, draft.id, rev.digest))
        mark = functools.partial(_mark_sending, store, draft.id, row.recipient)
        result = smtp.deliver(msg.as_bytes(), parseaddr(bot_address(settings))[1], row.recipient, before_data=mark)
        _record(store, draft.id, row.recipient, result, row.attempts + 1, retry, report)
    report.done = _finish(store, draft, report, via)
    return report


def _mark_sending(store: Store, digest_id: int, recipient: str) -> None:
    # Cannot fail under the lock; if it does, refuse rather than risk a double.
    if not store.deliveries.mark_sending(digest_id, recipient, now()):
        raise SendError(f"delivery of #{digest_id} to {recipient} changed under us (a reject or an edit?); stopping")


def _record(store: Store, digest_id: int, recipient: str, result: Result, attempts: int, retry: RetryPolicy,
            report: DigestReport) -> None:
    state, detail = result.outcome.value, result.detail
    if result.outcome is Outcome.DEFERRED and attempts >= retry.max_attempts:
        state, detail = "failed", f"gave up after {attempts} attempts; last: {detail}"
    store.deliveries.record_outcome(digest_id, recipient, state, attempts, now(), None if state == "sent" else detail)
    if state == "sent":
        report.sent.append(recipient)
        return
    getattr(report, state).append((recipient, detail))
    log.log(logging.INFO if state == "deferred" else logging.WARNING,
            "delivery of #%d to %s: %s (%s)", digest_id, recipient, state, detail)


def _finish(store: Store, draft: lifecycle.Draft, report: DigestReport, via: lifecycle.Via) -> bool:
    """approved -> sent once no row can change any more (sent, failed or unknown)."""
    states = [row.state for row in _rows(store, draft.id)]
    if any(state in OPEN_ROWS for state in states):
        return False
    note = ", ".join(f"{states.count(s)} {s}" for s in ("sent", "failed", "unknown") if states.count(s))
    lifecycle.transition(store, draft.id, "sent", lifecycle.SYSTEM, via, note)
    return True


def _tell_chair_about_problems(settings: Settings, smtp: Mailer, report: SendReport,
                               interrupted: list[tuple[int, str]]) -> None:
    lines: list[str] = []
    for digest_id, recipient in interrupted:
        lines.append(f"#{digest_id} to {recipient}: UNKNOWN. An earlier send was interrupted while the message "
                     "was in flight; it may have arrived, so it was not sent again.")
    for d in report.digests:
        lines += [f"#{d.digest_id} to {rcpt}: FAILED ({detail})" for rcpt, detail in d.failed]
        lines += [f"#{d.digest_id} to {rcpt}: UNKNOWN ({detail}); not sent again" for rcpt, detail in d.unknown]
    if lines:
        body = "Some deliveries of approved digests did not go through:\n\n" + "\n".join(f"- {x}" for x in lines)
        tell_chair(settings, "delivery problems", body + "\n\nThe other recipients were not affected.\n", mailer=smtp)
