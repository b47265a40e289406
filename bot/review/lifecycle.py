"""The life of a digest, and the only code that changes its state.

              notify              approve               send
    drafted ---------> awaiting ---------> approved ---------> sent
       ^                  |                   |
       +------ edit ------+-------------------+   an edit is a new revision: any review
                                                  mail or approval was for the old one
    approved:   also straight from drafted (the chair at the terminal)
    rejected:   from drafted, awaiting, or approved before delivery starts
    superseded: from drafted or awaiting, by a newer draft of the same period

Every change is a compare-and-set on (state, revision) plus a row in
`transitions` in the same database transaction: two actors racing (the chair
by mail, an operator on the CLI) cannot both win, and nothing changes without
a record of who, when and how. An edit is a new revision, never an overwrite,
so a token minted for revision 1 can never approve revision 2.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bot.errors import NoSuchDraft, ReviewError
from bot.model import Digest
from bot.render.message import address_domain, bot_address
from bot.review.mail import Parts, parts_from_digest, parts_from_markdown
from bot.review.memory import edit_actions, remember
from bot.settings import Settings
from bot.store.database import Store, now
from bot.store.drafts import Draft as Draft
from bot.store.drafts import Transition as Transition
from bot.store.groups import Groups, Transaction

Via = Literal["cli", "email", "scheduler"]
SYSTEM = "digestbot"
OPEN = ("drafted", "awaiting")  # the chair can still change or decide these
ALLOWED: dict[str | None, frozenset[str]] = {
    None: frozenset({"drafted"}),
    # drafted -> drafted: an edit; awaiting -> awaiting: the review mail sent again.
    "drafted": frozenset({"drafted", "awaiting", "approved", "rejected", "superseded"}),
    "awaiting": frozenset({"drafted", "awaiting", "approved", "rejected", "superseded"}),
    "approved": frozenset({"drafted", "rejected", "sent"}),
    "sent": frozenset(),
    "rejected": frozenset(),
    "superseded": frozenset(),
}


@dataclass(frozen=True, slots=True)
class Revision:
    digest_id: int
    revision: int
    parts: Parts
    digest: dict[str, Any]  # the pipeline's structured digest (digest_to_dict)
    edited: bool
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class DraftInfo:
    """What `store_draft` did."""

    id: int
    revision: int
    state: str
    subject: str
    superseded: tuple[int, ...]


# -- reading -----------------------------------------------------------------


def _on(store: Store, tx: Transaction | None) -> Groups:
    """Where to read and write: inside the caller's transaction `tx`, or the store's own connections."""
    return store if tx is None else tx


def get(store: Store, digest_id: int, tx: Transaction | None = None) -> Draft:
    draft = _on(store, tx).drafts.get(digest_id)
    if draft is None:
        raise NoSuchDraft(f"no draft #{digest_id}")
    return draft


def drafts(store: Store, states: tuple[str, ...] = ()) -> list[Draft]:
    return store.drafts.all(states)


def revision(store: Store, digest_id: int, number: int | None = None, tx: Transaction | None = None) -> Revision:
    """A revision of a draft: the current one unless `number` is given."""
    number = number or get(store, digest_id, tx).revision
    row = _on(store, tx).drafts.revision(digest_id, number)
    if row is None:
        raise NoSuchDraft(f"draft #{digest_id} has no revision {number}")
    data = row.data
    parts = Parts(subject=row.subject, text=data["text"], html=data["html"], markdown=row.markdown)
    return Revision(digest_id, number, parts, data.get("digest", {}), bool(data.get("edited")),
                    row.created_at, row.created_by)


def history(store: Store, digest_id: int | None = None) -> list[Transition]:
    return store.drafts.history(digest_id)


# -- drafting ----------------------------------------------------------------


def store_draft(store: Store, settings: Settings, digest: Digest, actor: str, via: Via) -> DraftInfo:
    """Store `digest` as a new draft; it supersedes open drafts of the same period.

    A period that is already approved or sent is never redrafted silently:
    reject the approved draft first (or leave the sent one be).
    """
    start, end = digest.period_start.astimezone(UTC), digest.period_end.astimezone(UTC)
    stamp = now()
    with store.transaction() as tx:
        same = tx.drafts.of_period(start, end)
        for old in same:
            if old.state in ("approved", "sent"):
                hint = f" (reject #{old.id} first)" if old.state == "approved" else ""
                raise ReviewError(f"the period of this draft is already {old.state} as #{old.id}; "
                                  f"not redrafting it{hint}")
        new_id = tx.drafts.add(start, end, stamp)
        # What it took, its actions' ids and the DONE: lines' closings, in the same transaction.
        digest = remember(tx, digest, new_id, stamp)
        parts, data = parts_from_digest(digest, settings)
        tx.drafts.set_mail_message_id(new_id, _message_id(settings, start, new_id))
        _insert_revision(tx, new_id, 1, parts, {"digest": data, "edited": False}, actor, stamp)
        tx.drafts.record(new_id, None, "drafted", actor, via, stamp, "revision 1")
        superseded = []
        for old in same:
            if old.state in OPEN:
                _change(store, tx, old, "superseded", actor, via, stamp, f"superseded by #{new_id}",
                        superseded_by=new_id)
                superseded.append(old.id)
    return DraftInfo(new_id, 1, "drafted", parts.subject, tuple(superseded))


def _message_id(settings: Settings, start: datetime, digest_id: int) -> str:
    """Stable for the life of the digest; random enough that a rebuilt store cannot
    reuse the Message-ID of a digest that already went out (receivers would drop it)."""
    domain = address_domain(bot_address(settings)) or "localhost"
    return f"<digest-{start:%Y%m%d}-{digest_id}-{secrets.token_hex(4)}@{domain}>"


def _insert_revision(tx: Transaction, digest_id: int, number: int, parts: Parts, data: dict[str, Any],
                     actor: str, stamp: datetime) -> None:
    payload = {**data, "text": parts.text, "html": parts.html}
    tx.drafts.add_revision(digest_id, number, parts.subject, parts.markdown, payload, actor, stamp)


# -- transitions -------------------------------------------------------------


def transition(store: Store, digest_id: int, to_state: str, actor: str, via: Via, note: str = "",
               *, revision_seen: int | None = None, tx: Transaction | None = None) -> Draft:
    """Move a draft to `to_state`, or raise ReviewError if that is not allowed now.

    `revision_seen`: the revision the actor looked at; if the draft has moved on
    since, nothing changes (an approval is for what the chair read).
    """
    if tx is None:
        with store.transaction() as own:
            return transition(store, digest_id, to_state, actor, via, note, revision_seen=revision_seen, tx=own)
    draft = get(store, digest_id, tx)
    if revision_seen is not None and revision_seen != draft.revision:
        raise ReviewError(f"draft #{digest_id} is at revision {draft.revision}, not {revision_seen}")
    return _change(store, tx, draft, to_state, actor, via, now(), note)


def _change(store: Store, tx: Transaction, draft: Draft, to_state: str, actor: str, via: str,
            stamp: datetime, note: str, *, revision: int | None = None, superseded_by: int | None = None) -> Draft:
    if to_state not in ALLOWED[draft.state]:
        raise ReviewError(f"draft #{draft.id} is {draft.state}; it cannot become {to_state}")
    if not tx.drafts.change_state(draft, to_state, actor, via, stamp, note, revision=revision,
                                  superseded_by=superseded_by):
        raise ReviewError(f"draft #{draft.id} changed meanwhile; look again")  # between our read and this write
    return get(store, draft.id, tx)


def approve(store: Store, digest_id: int, actor: str, via: Via, *, revision_seen: int | None = None,
            tx: Transaction | None = None) -> Draft:
    draft = get(store, digest_id, tx)
    return transition(store, digest_id, "approved", actor, via, f"revision {revision_seen or draft.revision}",
                      revision_seen=revision_seen, tx=tx)


def reject(store: Store, digest_id: int, actor: str, via: Via, reason: str, *, revision_seen: int | None = None,
           tx: Transaction | None = None) -> Draft:
    reason = " ".join(reason.split())
    if not reason:
        raise ReviewError("a rejection needs a reason")
    if tx is None:
        with store.transaction() as own:
            return reject(store, digest_id, actor, via, reason, revision_seen=revision_seen, tx=own)
    _refuse_if_delivering(tx, digest_id)
    return transition(store, digest_id, "rejected", actor, via, reason, revision_seen=revision_seen, tx=tx)


def edit(store: Store, digest_id: int, markdown: str, actor: str, via: Via, *, revision_seen: int | None = None,
         tx: Transaction | None = None) -> Draft:
    """Store `markdown` as the draft's next revision, re-rendered; the draft is drafted again.

    Back to drafted (from awaiting or approved) because the chair has not seen
    the new revision in its final form: any review mail or approval was for
    the old one.
    """
    if tx is None:
        with store.transaction() as own:
            return edit(store, digest_id, markdown, actor, via, revision_seen=revision_seen, tx=own)
    draft = get(store, digest_id, tx)
    if revision_seen is not None and revision_seen != draft.revision:
        raise ReviewError(f"draft #{digest_id} is at revision {draft.revision}, not {revision_seen}")
    if draft.state not in ("drafted", "awaiting", "approved"):
        raise ReviewError(f"draft #{digest_id} is {draft.state}; it can no longer be edited")
    _refuse_if_delivering(tx, digest_id)
    old = revision(store, digest_id, draft.revision, tx)
    if markdown.strip() == old.parts.markdown.strip():
        raise ReviewError(f"draft #{digest_id}: the edit changes nothing")
    parts = parts_from_markdown(markdown, old.parts.subject)
    edit_actions(tx, digest_id, markdown)
    number = draft.revision + 1
    stamp = now()
    _insert_revision(tx, digest_id, number, parts, {"digest": old.digest, "edited": True}, actor, stamp)
    return _change(store, tx, draft, "drafted", actor, via, stamp, f"edited: revision {number}", revision=number)


def _refuse_if_delivering(tx: Transaction, digest_id: int) -> None:
    if tx.deliveries.started(digest_id):
        raise ReviewError(f"draft #{digest_id} is already being delivered; it can no longer change")


def deadline(settings: Settings, draft: Draft) -> datetime:
    """When an unapproved draft earns its one reminder."""
    return draft.created_at + timedelta(hours=settings.review.send_deadline_hours)
