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

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any, Literal

import sqlalchemy as sa

from bot.errors import NoSuchDraft, ReviewError
from bot.model import Digest
from bot.review.mail import Parts, parts_from_digest, parts_from_markdown
from bot.settings import Settings
from bot.store.database import Store, deliveries, digest_revisions, digests, now, transitions

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
class Draft:
    """One row of `digests`."""

    id: int
    period_start: datetime
    period_end: datetime
    state: str
    revision: int
    mail_message_id: str
    created_at: datetime
    updated_at: datetime
    reminded_at: datetime | None
    superseded_by: int | None


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


@dataclass(frozen=True, slots=True)
class Transition:
    digest_id: int
    from_state: str | None
    to_state: str
    actor: str
    via: str
    at: datetime
    note: str


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything in the store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- reading -----------------------------------------------------------------


def _first(store: Store, query: sa.Select[Any], conn: sa.Connection | None) -> Any:
    """One row, read on `conn` (inside a caller's transaction) or on a connection of our own."""
    if conn is not None:
        return conn.execute(query).first()
    with store.engine.connect() as own:
        return own.execute(query).first()


def get(store: Store, digest_id: int, conn: sa.Connection | None = None) -> Draft:
    row = _first(store, sa.select(digests).where(digests.c.id == digest_id), conn)
    if row is None:
        raise NoSuchDraft(f"no draft #{digest_id}")
    return _draft(row)


def _draft(row: Any) -> Draft:
    return Draft(
        id=row.id, period_start=aware(row.period_start), period_end=aware(row.period_end), state=row.state,
        revision=row.revision, mail_message_id=row.mail_message_id, created_at=aware(row.created_at),
        updated_at=aware(row.updated_at), reminded_at=aware(row.reminded_at) if row.reminded_at else None,
        superseded_by=row.superseded_by,
    )


def drafts(store: Store, states: tuple[str, ...] = ()) -> list[Draft]:
    query = sa.select(digests).order_by(digests.c.period_start, digests.c.id)
    if states:
        query = query.where(digests.c.state.in_(states))
    with store.engine.connect() as conn:
        return [_draft(row) for row in conn.execute(query)]


def revision(store: Store, digest_id: int, number: int | None = None, conn: sa.Connection | None = None) -> Revision:
    """A revision of a draft: the current one unless `number` is given."""
    number = number or get(store, digest_id, conn).revision
    row = _first(store, sa.select(digest_revisions).where(
        digest_revisions.c.digest_id == digest_id, digest_revisions.c.revision == number), conn)
    if row is None:
        raise NoSuchDraft(f"draft #{digest_id} has no revision {number}")
    data = json.loads(row.data)
    parts = Parts(subject=row.subject, text=data["text"], html=data["html"], markdown=row.markdown)
    return Revision(digest_id, number, parts, data.get("digest", {}), bool(data.get("edited")),
                    aware(row.created_at), row.created_by)


def history(store: Store, digest_id: int | None = None) -> list[Transition]:
    query = sa.select(transitions).order_by(transitions.c.id)
    if digest_id is not None:
        query = query.where(transitions.c.digest_id == digest_id)
    with store.engine.connect() as conn:
        return [Transition(r.digest_id, r.from_state, r.to_state, r.actor, r.via, aware(r.at), r.note)
                for r in conn.execute(query)]


# -- drafting ----------------------------------------------------------------


def store_draft(store: Store, settings: Settings, digest: Digest, actor: str, via: Via) -> DraftInfo:
    """Store `digest` as a new draft; it supersedes open drafts of the same period.

    A period that is already approved or sent is never redrafted silently:
    reject the approved draft first (or leave the sent one be).
    """
    parts, data = parts_from_digest(digest, settings)
    start, end = digest.period_start.astimezone(UTC), digest.period_end.astimezone(UTC)
    stamp = now()
    with store.engine.begin() as conn:
        same = [_draft(row) for row in conn.execute(
            sa.select(digests).where(digests.c.period_start == start, digests.c.period_end == end))]
        for old in same:
            if old.state in ("approved", "sent"):
                hint = f" (reject #{old.id} first)" if old.state == "approved" else ""
                raise ReviewError(f"the period of this draft is already {old.state} as #{old.id}; "
                                  f"not redrafting it{hint}")
        new_id: int = conn.execute(digests.insert().values(
            period_start=start, period_end=end, state="drafted", revision=1, mail_message_id="pending",
            created_at=stamp, updated_at=stamp)).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(digests.update().where(digests.c.id == new_id).values(
            mail_message_id=_message_id(settings, start, new_id)))
        _insert_revision(conn, new_id, 1, parts, {"digest": data, "edited": False}, actor, stamp)
        record(conn, new_id, None, "drafted", actor, via, stamp, "revision 1")
        superseded = []
        for old in same:
            if old.state in OPEN:
                _change(store, conn, old, "superseded", actor, via, stamp, f"superseded by #{new_id}",
                        superseded_by=new_id)
                superseded.append(old.id)
    return DraftInfo(new_id, 1, "drafted", parts.subject, tuple(superseded))


def _message_id(settings: Settings, start: datetime, digest_id: int) -> str:
    """Stable for the life of the digest; random enough that a rebuilt store cannot
    reuse the Message-ID of a digest that already went out (receivers would drop it)."""
    domain = parseaddr(settings.smtp.from_address or settings.list.address)[1].rpartition("@")[2] or "localhost"
    return f"<digest-{start:%Y%m%d}-{digest_id}-{secrets.token_hex(4)}@{domain}>"


def _insert_revision(conn: sa.Connection, digest_id: int, number: int, parts: Parts, data: dict[str, Any],
                     actor: str, stamp: datetime) -> None:
    payload = {**data, "text": parts.text, "html": parts.html}
    conn.execute(digest_revisions.insert().values(
        digest_id=digest_id, revision=number, subject=parts.subject, markdown=parts.markdown,
        data=json.dumps(payload, ensure_ascii=False), created_at=stamp, created_by=actor))


# -- transitions -------------------------------------------------------------


def transition(store: Store, digest_id: int, to_state: str, actor: str, via: Via, note: str = "",
               *, revision_seen: int | None = None, conn: sa.Connection | None = None) -> Draft:
    """Move a draft to `to_state`, or raise ReviewError if that is not allowed now.

    `revision_seen`: the revision the actor looked at; if the draft has moved on
    since, nothing changes (an approval is for what the chair read).
    """
    if conn is None:
        with store.engine.begin() as own:
            return transition(store, digest_id, to_state, actor, via, note, revision_seen=revision_seen, conn=own)
    draft = get(store, digest_id, conn)
    if revision_seen is not None and revision_seen != draft.revision:
        raise ReviewError(f"draft #{digest_id} is at revision {draft.revision}, not {revision_seen}")
    return _change(store, conn, draft, to_state, actor, via, now(), note)


def _change(store: Store, conn: sa.Connection, draft: Draft, to_state: str, actor: str, via: str,
            stamp: datetime, note: str, **values: Any) -> Draft:
    if to_state not in ALLOWED[draft.state]:
        raise ReviewError(f"draft #{draft.id} is {draft.state}; it cannot become {to_state}")
    result = conn.execute(
        digests.update()
        .where(digests.c.id == draft.id, digests.c.state == draft.state, digests.c.revision == draft.revision)
        .values(state=to_state, updated_at=stamp, **values))
    if result.rowcount != 1:  # someone else changed it between our read and this write
        raise ReviewError(f"draft #{draft.id} changed meanwhile; look again")
    record(conn, draft.id, draft.state, to_state, actor, via, stamp, note)
    return get(store, draft.id, conn)


def record(conn: sa.Connection, digest_id: int, from_state: str | None, to_state: str, actor: str, via: str,
           stamp: datetime, note: str) -> None:
    """One row of history; callers write it in the transaction that makes the change."""
    conn.execute(transitions.insert().values(digest_id=digest_id, from_state=from_state, to_state=to_state,
                                             actor=actor, via=via, at=stamp, note=note))


def approve(store: Store, digest_id: int, actor: str, via: Via, *, revision_seen: int | None = None,
            conn: sa.Connection | None = None) -> Draft:
    draft = get(store, digest_id, conn)
    return transition(store, digest_id, "approved", actor, via, f"revision {revision_seen or draft.revision}",
                      revision_seen=revision_seen, conn=conn)


def reject(store: Store, digest_id: int, actor: str, via: Via, reason: str, *, revision_seen: int | None = None,
           conn: sa.Connection | None = None) -> Draft:
    reason = " ".join(reason.split())
    if not reason:
        raise ReviewError("a rejection needs a reason")
    if conn is None:
        with store.engine.begin() as own:
            return reject(store, digest_id, actor, via, reason, revision_seen=revision_seen, conn=own)
    _refuse_if_delivering(conn, digest_id)
    return transition(store, digest_id, "rejected", actor, via, reason, revision_seen=revision_seen, conn=conn)


def edit(store: Store, digest_id: int, markdown: str, actor: str, via: Via, *, revision_seen: int | None = None,
         conn: sa.Connection | None = None) -> Draft:
    """Store `markdown` as the draft's next revision, re-rendered; the draft is drafted again.

    Back to drafted (from awaiting or approved) because the chair has not seen
    the new revision in its final form: any review mail or approval was for
    the old one.
    """
    if conn is None:
        with store.engine.begin() as own:
            return edit(store, digest_id, markdown, actor, via, revision_seen=revision_seen, conn=own)
    draft = get(store, digest_id, conn)
    if revision_seen is not None and revision_seen != draft.revision:
        raise ReviewError(f"draft #{digest_id} is at revision {draft.revision}, not {revision_seen}")
    if draft.state not in ("drafted", "awaiting", "approved"):
        raise ReviewError(f"draft #{digest_id} is {draft.state}; it can no longer be edited")
    _refuse_if_delivering(conn, digest_id)
    old = revision(store, digest_id, draft.revision, conn)
    if markdown.strip() == old.parts.markdown.strip():
        raise ReviewError(f"draft #{digest_id}: the edit changes nothing")
    parts = parts_from_markdown(markdown, old.parts.subject)
    number = draft.revision + 1
    stamp = now()
    _insert_revision(conn, digest_id, number, parts, {"digest": old.digest, "edited": True}, actor, stamp)
    return _change(store, conn, draft, "drafted", actor, via, stamp, f"edited: revision {number}", revision=number)


def _refuse_if_delivering(conn: sa.Connection, digest_id: int) -> None:
    started = conn.scalar(sa.select(sa.func.count()).select_from(deliveries).where(deliveries.c.digest_id == digest_id))
    if started:
        raise ReviewError(f"draft #{digest_id} is already being delivered; it can no longer change")


def deadline(settings: Settings, draft: Draft) -> datetime:
    """When an unapproved draft earns its one reminder."""
    return draft.created_at + timedelta(hours=settings.review.send_deadline_hours)
