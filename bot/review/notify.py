"""Mail to the chair: review requests, the one reminder, and notices.

Review mail and reminders are not subscriber deliveries: sending one twice
(after a crash) is harmless, so they do not go through the delivery ledger.
Notices are best effort: a notice that cannot be sent is logged, and never
stops the work it reports on.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage

from bot.errors import ConfigError, DigestbotError, ReviewError, SendError
from bot.mail.smtp import Mailer
from bot.review import lifecycle
from bot.review.mail import ReviewTag, chair_addresses, notice_message, reply_draft, review_message
from bot.review.tokens import review_token
from bot.settings import Settings
from bot.store.database import Store, now

log = logging.getLogger("digestbot.review")


@contextlib.contextmanager
def _mailer(settings: Settings, mailer: Mailer | None) -> Iterator[Mailer]:
    if mailer is not None:
        yield mailer
        return
    with Mailer(settings.smtp) as own:
        yield own


def _chairs(settings: Settings) -> tuple[str, ...]:
    chairs = chair_addresses(settings)
    if not chairs:
        raise ConfigError("review.chair_addresses (or digest.chair_address) is not configured")
    return chairs


def secret(settings: Settings) -> str:
    value = settings.review.secret.reveal("review.secret")
    if len(value) < 16:
        raise ConfigError("review.secret: use at least 16 characters (it is the key that makes approval tokens)")
    return value


def check_ready(settings: Settings) -> None:
    """Fail before drafting, not after, when review mail could not be sent."""
    _chairs(settings)
    secret(settings)
    if not settings.smtp.host:
        raise ConfigError("smtp.host is not configured (review mail goes out over SMTP)")


def review_tag(store: Store, settings: Settings, draft: lifecycle.Draft) -> ReviewTag:
    if settings.smtp.mode == "list":
        audience = f"{settings.list.address} (the list)"
    else:
        count = len(store.subscribers.all())
        audience = f"the roster ({count} subscriber{'' if count == 1 else 's'})"
    return ReviewTag(draft.id, draft.revision, review_token(secret(settings), draft.id, draft.revision),
                     lifecycle.deadline(settings, draft), audience)


def request_review(store: Store, settings: Settings, digest_id: int, *, actor: str, via: lifecycle.Via,
                   mailer: Mailer | None = None) -> lifecycle.Draft:
    """Mail the current revision to the chair; the draft then awaits approval."""
    draft = lifecycle.get(store, digest_id)
    if draft.state not in lifecycle.OPEN:
        raise ReviewError(f"draft #{digest_id} is {draft.state}; there is nothing to review")
    chairs = _chairs(settings)
    current = lifecycle.revision(store, digest_id)
    parts = current.parts
    tag = review_tag(store, settings, draft)
    msg = review_message(parts, settings, tag, to=", ".join(chairs), date=now(),
                         model_checks=current.digest.get("model_checks"), digest_data=current.digest)
    with _mailer(settings, mailer) as smtp:
        smtp.send_message(msg, chairs)
    moved = lifecycle.transition(store, digest_id, "awaiting", actor, via,
                              f"review mail for revision {draft.revision} sent to {', '.join(chairs)}",
                              revision_seen=draft.revision)
    if settings.review.drafts_folder:
        _append_reply_draft(settings, reply_draft(parts, settings, tag, chair=chairs[0], date=now()))
    return moved


# -- the one reminder ------------------------------------------------------------


def _claim_reminder(store: Store, settings: Settings, digest_id: int, at: datetime) -> lifecycle.Draft | None:
    """Mark the draft reminded, once: None if it is not due or was reminded already.

    Claimed before the mail goes out, so two schedulers cannot both remind (at
    most one reminder, even across a crash); a failed send gives the claim back.
    """
    with store.transaction() as tx:
        draft = lifecycle.get(store, digest_id, tx)
        if (draft.state not in lifecycle.OPEN or draft.reminded_at is not None
                or at < lifecycle.deadline(settings, draft)):
            return None
        claimed = tx.drafts.claim_reminder(digest_id, at, lifecycle.OPEN)
        return lifecycle.get(store, digest_id, tx) if claimed else None


def _record_reminder(store: Store, draft: lifecycle.Draft, to: str) -> None:
    store.drafts.record(draft.id, draft.state, draft.state, lifecycle.SYSTEM, "scheduler", now(),
                        f"reminder sent to {to}: past the send deadline")


def _unclaim_reminder(store: Store, digest_id: int) -> None:
    store.drafts.unclaim_reminder(digest_id)


def send_reminders(store: Store, settings: Settings, *, mailer: Mailer | None = None,
                   at: datetime | None = None) -> list[int]:
    """One reminder per draft still unapproved after the send deadline; the ids reminded."""
    at = at or now()
    reminded: list[int] = []
    candidates = [d for d in lifecycle.drafts(store, lifecycle.OPEN)
                  if d.reminded_at is None and at >= lifecycle.deadline(settings, d)]
    if not candidates:
        return reminded
    chairs = _chairs(settings)
    with _mailer(settings, mailer) as smtp:
        for draft in candidates:
            claimed = _claim_reminder(store, settings, draft.id, at)
            if claimed is None:
                continue
            tag = review_tag(store, settings, claimed)
            current = lifecycle.revision(store, draft.id)
            msg = review_message(current.parts, settings, tag, to=", ".join(chairs), date=now(), reminder=True,
                                 model_checks=current.digest.get("model_checks"), digest_data=current.digest)
            try:
                smtp.send_message(msg, chairs)
            except SendError:
                _unclaim_reminder(store, draft.id)  # the next run tries again
                raise
            _record_reminder(store, claimed, ", ".join(chairs))
            reminded.append(draft.id)
    return reminded


def tell_chair(settings: Settings, subject: str, body: str, *, mailer: Mailer | None = None) -> bool:
    """Best effort: True if the notice went out; a failure is logged, never raised."""
    chairs = chair_addresses(settings)
    if not chairs:
        log.warning("no chair address configured; not sent: %s", subject)
        return False
    msg = notice_message(settings, to=", ".join(chairs), subject=subject, body=body, date=now())
    try:
        with _mailer(settings, mailer) as smtp:
            smtp.send_message(msg, chairs)
    except DigestbotError as exc:
        log.warning("could not tell the chair (%s): %s", subject, exc)
        return False
    return True


def _append_reply_draft(settings: Settings, msg: EmailMessage) -> None:
    """APPEND a ready-made reply to the Drafts folder of the [source] account (best effort)."""
    from imapclient import IMAPClient

    imap, folder = settings.source, settings.review.drafts_folder
    try:
        context = ssl.create_default_context(cafile=imap.ca_file or None) if imap.tls != "none" else None
        client = IMAPClient(imap.host, imap.effective_port, ssl=imap.tls == "ssl", ssl_context=context,
                            timeout=imap.timeout)
        try:
            if imap.tls == "starttls":
                client.starttls(context)
            client.login(imap.username, imap.password.reveal("source"))
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, msg.as_bytes(), flags=[b"\\Draft"])
        finally:
            with contextlib.suppress(Exception):
                client.logout()
    except Exception as exc:  # noqa: BLE001 - the review mail already went out; this is an extra
        log.warning("could not put the draft in IMAP folder %r: %s: %s", folder, exc.__class__.__name__,
                    str(exc)[:200])
