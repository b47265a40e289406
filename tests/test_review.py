"""The digest state machine: drafting, every transition, edits, reminders, the review mail."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.delivery.send import send_approved
from bot.errors import ReviewError
from bot.review import lifecycle
from bot.review.notify import request_review, send_reminders
from bot.review.tokens import TOKEN_HEADER, find_tag, is_valid
from bot.settings import Settings
from bot.store.database import Store, open_store
from bot.store.tables import deliveries, digest_revisions, transitions
from tests.helpers.reviewkit import (
    BOT,
    CHAIR,
    END,
    LIST,
    SECRET,
    START,
    html_of,
    make_digest,
    only,
    review_mails,
    settings_for,
    text_of,
)
from tests.helpers.smtp_server import SmtpServer


@pytest.fixture()
def env(tmp_path: Path, smtp_server: SmtpServer, review_secret: str) -> tuple[Settings, Store]:
    settings = settings_for(tmp_path, smtp_server)
    return settings, open_store(settings.store_url)


def states(store: Store, digest_id: int) -> list[tuple[str | None, str, str, str]]:
    return [(t.from_state, t.to_state, t.actor, t.via) for t in lifecycle.history(store, digest_id)]


# -- drafting ------------------------------------------------------------------


def test_store_draft_keeps_every_format_and_records_who(env: tuple[Settings, Store]) -> None:
    settings, store = env
    info = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    assert (info.revision, info.state) == (1, "drafted")
    assert info.subject == "[driftwood-devel] Weekly Meeting: 2014-08-20 (18–24 Aug 2014)"
    rev = lifecycle.revision(store, info.id)
    assert "Conduit merge" in rev.parts.text and "Conduit merge" in rev.parts.html
    assert rev.parts.markdown.startswith("---\n") and "#### Conduit merge ####" in rev.parts.markdown
    assert rev.digest["agenda"] == ["Conduit merge"] and not rev.edited
    assert states(store, info.id) == [(None, "drafted", "ann", "cli")]
    draft = lifecycle.get(store, info.id)
    assert draft.mail_message_id.startswith("<digest-20140818-1-") and draft.mail_message_id.endswith("@example.org>")


def test_a_new_draft_supersedes_an_open_one_of_the_same_period(env: tuple[Settings, Store]) -> None:
    settings, store = env
    first = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.transition(store, first.id, "awaiting", "ann", "cli")
    next_week = make_digest(START + timedelta(7), END + timedelta(7))
    other_week = lifecycle.store_draft(store, settings, next_week, "a", "cli")
    second = lifecycle.store_draft(store, settings, make_digest(), "scheduler", "scheduler")
    assert second.superseded == (first.id,)
    old = lifecycle.get(store, first.id)
    assert (old.state, old.superseded_by) == ("superseded", second.id)
    assert states(store, first.id)[-1] == ("awaiting", "superseded", "scheduler", "scheduler")
    assert lifecycle.get(store, other_week.id).state == "drafted"  # another period is left alone


@pytest.mark.parametrize("state", ["approved", "sent"])
def test_an_approved_or_sent_period_is_never_redrafted_silently(env: tuple[Settings, Store], state: str) -> None:
    settings, store = env
    first = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, first.id, "ann", "cli")
    if state == "sent":
        lifecycle.transition(store, first.id, "sent", "digestbot", "scheduler")
    with pytest.raises(ReviewError, match=f"already {state} as #{first.id}"):
        lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    assert len(lifecycle.drafts(store)) == 1


def test_a_rejected_period_can_be_drafted_again(env: tuple[Settings, Store]) -> None:
    settings, store = env
    first = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.reject(store, first.id, "ann", "cli", "too early")
    second = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    assert second.superseded == () and lifecycle.get(store, first.id).state == "rejected"


# -- transitions ---------------------------------------------------------------

PATHS = {  # how to bring a fresh draft into each state
    "drafted": [],
    "awaiting": ["awaiting"],
    "approved": ["approved"],
    "sent": ["approved", "sent"],
    "rejected": ["rejected"],
    "superseded": ["superseded"],
}
ALL = [(a, b) for a in PATHS for b in PATHS]


@pytest.mark.parametrize(("start", "target"), ALL)
def test_every_transition_is_allowed_or_refused_and_recorded(env: tuple[Settings, Store], start: str,
                                                             target: str) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    for step in PATHS[start]:
        lifecycle.transition(store, draft.id, step, "ann", "cli")
    before = lifecycle.history(store, draft.id)
    if target in lifecycle.ALLOWED[start]:
        moved = lifecycle.transition(store, draft.id, target, "maya", "email", "why")
        assert moved.state == target
        last = lifecycle.history(store, draft.id)[-1]
        assert (last.from_state, last.to_state, last.actor, last.via, last.note) == (start, target, "maya", "email",
                                                                                    "why")
    else:
        with pytest.raises(ReviewError, match="cannot become"):
            lifecycle.transition(store, draft.id, target, "maya", "email")
        assert lifecycle.get(store, draft.id).state == start
        assert lifecycle.history(store, draft.id) == before


def test_terminal_states_have_no_way_out() -> None:
    assert lifecycle.ALLOWED["sent"] == lifecycle.ALLOWED["rejected"] == lifecycle.ALLOWED["superseded"] == frozenset()
    assert "sent" not in lifecycle.ALLOWED["drafted"] | lifecycle.ALLOWED["awaiting"]  # nothing skips approval


def test_an_approval_names_the_revision_it_saw(env: tuple[Settings, Store]) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.edit(store, draft.id, "# Changed\n\nNew text.\n", "ann", "cli")
    with pytest.raises(ReviewError, match="revision 2, not 1"):
        lifecycle.approve(store, draft.id, "maya", "email", revision_seen=1)
    assert lifecycle.approve(store, draft.id, "maya", "cli").state == "approved"
    assert lifecycle.history(store, draft.id)[-1].note == "revision 2"


def test_reject_needs_a_reason(env: tuple[Settings, Store]) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    with pytest.raises(ReviewError, match="reason"):
        lifecycle.reject(store, draft.id, "ann", "cli", "  ")
    lifecycle.reject(store, draft.id, "ann", "cli", "the Conduit item is wrong")
    assert lifecycle.history(store, draft.id)[-1].note == "the Conduit item is wrong"


def test_unknown_draft(env: tuple[Settings, Store]) -> None:
    with pytest.raises(ReviewError, match="no draft #42"):
        lifecycle.approve(env[1], 42, "ann", "cli")


# -- edits ---------------------------------------------------------------------


def test_an_edit_is_a_new_rerendered_revision(env: tuple[Settings, Store]) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    old = lifecycle.revision(store, draft.id)
    markdown = old.parts.markdown.replace("Vchan support comes when ready.", "Vchan support lands **next week**.")
    markdown += "\n<script>alert(1)</script>\n"
    moved = lifecycle.edit(store, draft.id, markdown, "maya", "cli")
    assert (moved.revision, moved.state) == (2, "drafted")
    new = lifecycle.revision(store, draft.id)
    assert new.edited and new.created_by == "maya" and new.parts.subject == old.parts.subject
    assert "<strong>next week</strong>" in new.parts.html
    assert "<script>" not in new.parts.html and "&lt;script&gt;" in new.parts.html  # raw HTML stays text
    assert "Vchan support lands **next week**." in new.parts.text and not new.parts.text.startswith("---")
    assert lifecycle.revision(store, draft.id, 1).parts.markdown == old.parts.markdown  # never overwritten
    assert lifecycle.history(store, draft.id)[-1].note == "edited: revision 2"


def test_an_edit_that_changes_nothing_is_refused(env: tuple[Settings, Store]) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    with pytest.raises(ReviewError, match="changes nothing"):
        lifecycle.edit(store, draft.id, lifecycle.revision(store, draft.id).parts.markdown + "\n\n", "ann", "cli")


def test_an_edit_withdraws_an_approval_until_delivery_starts(env: tuple[Settings, Store]) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, draft.id, "maya", "cli")
    moved = lifecycle.edit(store, draft.id, "# Fixed a typo\n", "maya", "cli")
    assert moved.state == "drafted"
    assert states(store, draft.id)[-1][:2] == ("approved", "drafted")
    lifecycle.approve(store, draft.id, "maya", "cli")
    with store.engine.begin() as conn:  # a send has begun
        conn.execute(deliveries.insert().values(digest_id=draft.id, recipient=LIST, revision=2, state="pending",
                                                attempts=0, updated_at=moved.created_at))
    with pytest.raises(ReviewError, match="being delivered"):
        lifecycle.edit(store, draft.id, "# Too late\n", "maya", "cli")
    with pytest.raises(ReviewError, match="being delivered"):
        lifecycle.reject(store, draft.id, "maya", "cli", "too late")


# -- the review mail -----------------------------------------------------------


def test_the_review_mail_is_the_subscriber_mail_with_a_note(env: tuple[Settings, Store],
                                                            smtp_server: SmtpServer) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    moved = request_review(store, settings, draft.id, actor="ann", via="cli")
    assert moved.state == "awaiting"
    got = only(smtp_server.to(CHAIR))
    msg = got.message
    assert got.mail_from == BOT
    tag = find_tag(str(msg["Subject"]), msg)
    assert tag is not None and (tag.digest_id, tag.revision) == (draft.id, 1) and is_valid(SECRET, tag)
    assert msg[TOKEN_HEADER] == f"#{draft.id} r1 {tag.token}"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Reply-To"] == BOT and msg["To"] == CHAIR
    # Now approve and send: the subscriber mail must be what the chair saw.
    lifecycle.approve(store, draft.id, CHAIR, "cli")
    send_approved(store, settings)
    sent = only(smtp_server.to(LIST)).message
    assert str(msg["Subject"]) == f"[digestbot #{draft.id} r1 {tag.token}] {sent['Subject']}"
    assert text_of(msg).endswith(text_of(sent)) and "reject REASON" in text_of(msg)
    body = html_of(sent).split("<body", 1)[1].split(">", 1)[1]
    assert body in html_of(msg) and "needs your approval" in html_of(msg)
    attachment = next(msg.iter_attachments())
    assert attachment.get_filename() == f"digest-{draft.id}-r1.md"
    assert attachment.get_content().replace("\r\n", "\n") == lifecycle.revision(store, draft.id).parts.markdown


def test_review_mail_of_a_closed_draft_is_refused(env: tuple[Settings, Store]) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.reject(store, draft.id, "ann", "cli", "no")
    with pytest.raises(ReviewError, match="nothing to review"):
        request_review(store, settings, draft.id, actor="ann", via="cli")


# -- the reminder --------------------------------------------------------------


def test_exactly_one_reminder_after_the_deadline(env: tuple[Settings, Store], smtp_server: SmtpServer) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    request_review(store, settings, draft.id, actor="ann", via="cli")
    created = lifecycle.get(store, draft.id).created_at
    assert send_reminders(store, settings, at=created + timedelta(hours=47)) == []
    after = created + timedelta(hours=49)
    assert send_reminders(store, settings, at=after) == [draft.id]
    assert send_reminders(store, settings, at=after + timedelta(days=3)) == []
    reminders = [m for m in review_mails(smtp_server) if str(m["Subject"]).startswith("Reminder: ")]
    assert len(reminders) == 1
    assert "will not be sent until you approve it" in text_of(reminders[0])
    assert reminders[0]["Auto-Submitted"] == "auto-generated"
    assert find_tag(str(reminders[0]["Subject"])) is not None  # answering the reminder works too
    assert lifecycle.get(store, draft.id).state == "awaiting"  # a reminder never sends anything
    assert "reminder sent" in lifecycle.history(store, draft.id)[-1].note
    assert smtp_server.to(LIST) == []


def test_no_reminder_for_an_approved_draft(env: tuple[Settings, Store], smtp_server: SmtpServer) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, draft.id, "maya", "cli")
    assert send_reminders(store, settings, at=draft_created(store, draft.id) + timedelta(days=5)) == []
    assert smtp_server.received == []


def draft_created(store: Store, digest_id: int) -> datetime:
    return lifecycle.get(store, digest_id).created_at


def test_a_failed_reminder_is_tried_again(env: tuple[Settings, Store], smtp_server: SmtpServer) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    later = lifecycle.get(store, draft.id).created_at + timedelta(days=3)
    smtp_server.handler.rcpt_replies[CHAIR] = "451 mailbox busy"
    with pytest.raises(Exception, match="451"):
        send_reminders(store, settings, at=later)
    assert lifecycle.get(store, draft.id).reminded_at is None
    del smtp_server.handler.rcpt_replies[CHAIR]
    assert send_reminders(store, settings, at=later) == [draft.id]


# -- storage -------------------------------------------------------------------


def test_the_revision_row_holds_json_markdown_text_and_html(env: tuple[Settings, Store]) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(digest_revisions)).one()
        count = conn.scalar(sa.select(sa.func.count()).select_from(transitions))
    data = json.loads(row.data)
    assert set(data) == {"digest", "edited", "text", "html"} and row.markdown.startswith("---")
    assert (row.digest_id, row.revision, row.created_by, count) == (draft.id, 1, "ann", 1)
