"""The chair's replies by mail: what counts, and everything that must not."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.review import lifecycle
from bot.review.notify import request_review
from bot.review.replies import ReplyResult, dkim_pass, is_for_bot, parse_command, process_replies
from bot.review.tokens import Tag, find_tag, is_valid, review_token, subject_tag
from bot.settings import Settings
from bot.store.database import Store, open_store
from tests.helpers.reviewkit import (
    BOT,
    CHAIR,
    LIST,
    SECRET,
    html_of,
    make_digest,
    notices,
    parsed,
    reply,
    review_mails,
    settings_for,
    text_of,
)
from tests.helpers.smtp_server import SmtpServer

Env = tuple[Settings, Store, SmtpServer]


@pytest.fixture()
def env(tmp_path: Path, smtp_server: SmtpServer, review_secret: str) -> Env:
    settings = settings_for(tmp_path, smtp_server)
    return settings, open_store(settings.store_url), smtp_server


def awaiting(env: Env) -> tuple[int, EmailMessage]:
    """A draft mailed to the chair; its id and the review mail as received."""
    settings, store, server = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "scheduler", "scheduler")
    request_review(store, settings, draft.id, actor="scheduler", via="scheduler")
    return draft.id, review_mails(server)[-1]


def answer(env: Env, *raws: bytes, **kw: Any) -> list[ReplyResult]:
    settings, store, _server = env
    return process_replies(store, settings, [parsed(raw, settings) for raw in raws], **kw)


# -- what counts -----------------------------------------------------------------


def test_approve_by_mail(env: Env) -> None:
    _settings, store, _server = env
    digest_id, mail = awaiting(env)
    [result] = answer(env, reply(mail, "Approve.\n\nOn Tue, digestbot wrote:\n> digestbot: draft #1\n"))
    assert (result.action, result.digest_id) == ("approved", digest_id)
    assert lifecycle.get(store, digest_id).state == "approved"
    last = lifecycle.history(store, digest_id)[-1]
    assert (last.from_state, last.to_state, last.actor, last.via) == ("awaiting", "approved", CHAIR, "email")


def test_reject_by_mail_keeps_the_reason(env: Env) -> None:
    _settings, store, _server = env
    digest_id, mail = awaiting(env)
    [result] = answer(env, reply(mail, "reject the Conduit summary is wrong,\nwait for Dave.\n\n-- \nMaya\n"))
    assert result.action == "rejected"
    assert lifecycle.history(store, digest_id)[-1].note == "the Conduit summary is wrong, wait for Dave."


def test_an_edited_markdown_reply_becomes_a_revision_and_comes_back_for_approval(env: Env) -> None:
    _settings, store, server = env
    digest_id, mail = awaiting(env)
    source = lifecycle.revision(store, digest_id).parts.markdown
    edited = source.replace("Vchan support comes when ready.", "Vchan support lands next week.")
    [result] = answer(env, reply(mail, edited + "\n> quoted review mail\n"))
    assert result.action == "edited"
    draft = lifecycle.get(store, digest_id)
    assert (draft.revision, draft.state) == (2, "awaiting")
    assert "Vchan support lands next week." in lifecycle.revision(store, digest_id).parts.text
    second = review_mails(server)[-1]
    assert f"[digestbot #{digest_id} r2 " in str(second["Subject"])
    assert "lands next week" in text_of(second) and "lands next week" in html_of(second)
    # The first mail's token is for revision 1: it can no longer approve anything.
    [old] = answer(env, reply(mail, "approve\n"))
    assert old.action == "ignored" and lifecycle.get(store, digest_id).state == "awaiting"
    [new] = answer(env, reply(second, "approve\n"))
    assert new.action == "approved"
    assert [t.to_state for t in lifecycle.history(store, digest_id)] == ["drafted", "awaiting", "drafted", "awaiting",
                                                                      "approved"]


def test_the_token_header_or_in_reply_to_alone_is_enough(env: Env) -> None:
    _settings, store, _server = env
    _digest_id, mail = awaiting(env)
    token_header = str(mail["X-Digestbot-Token"])
    [by_header] = answer(env, reply(mail, "approve\n", subject="ok", headers={"X-Digestbot-Token": token_header},
                                    in_reply_to=False))
    assert by_header.action == "approved"
    other_id, other = awaiting_next_week(env)
    [by_reference] = answer(env, reply(other, "approve\n", subject="looks good"))
    assert by_reference.action == "approved" and lifecycle.get(store, other_id).state == "approved"


def awaiting_next_week(env: Env) -> tuple[int, EmailMessage]:
    from datetime import timedelta

    from tests.helpers.reviewkit import END, START

    settings, store, server = env
    draft = lifecycle.store_draft(store, settings, make_digest(START + timedelta(7), END + timedelta(7)), "s", "cli")
    request_review(store, settings, draft.id, actor="s", via="cli")
    return draft.id, review_mails(server)[-1]


# -- what must not count -----------------------------------------------------------

FORGERIES: dict[str, Callable[[EmailMessage], bytes]] = {
    "wrong sender": lambda m: reply(m, "approve\n", sender="mallory@example.net"),
    "chair's name, other address": lambda m: reply(m, "approve\n", sender="maya@example.org.evil.example"),
    "missing token": lambda m: reply(m, "approve\n", subject="Re: [driftwood-devel] Weekly Meeting",
                                     in_reply_to=False),
    "altered token": lambda m: reply(m, "approve\n", subject=str(m["Subject"]).replace(
        str(m["X-Digestbot-Token"]).split()[-1], "0" * 20), in_reply_to=False),
    "token of another draft": lambda m: reply(m, "approve\n", subject=str(m["Subject"]).replace("#1 ", "#2 "),
                                              in_reply_to=False),
}


@pytest.mark.parametrize("kind", list(FORGERIES))
def test_forged_approvals_are_ignored_logged_and_reported(env: Env, kind: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    _settings, store, server = env
    digest_id, mail = awaiting(env)
    with caplog.at_level(logging.WARNING, logger="digestbot.review"):
        [result] = answer(env, FORGERIES[kind](mail))
    assert result.action == "ignored", result
    assert lifecycle.get(store, digest_id).state == "awaiting"
    assert any("ignored reply" in r.getMessage() and result.reason in r.getMessage() for r in caplog.records)
    [notice] = notices(server)
    assert notice["To"] == CHAIR and notice["Auto-Submitted"] == "auto-generated"
    assert result.reason in text_of(notice)


def test_a_token_of_an_older_revision_does_not_approve_the_newer(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    settings, store, server = env
    digest_id, mail = awaiting(env)
    lifecycle.edit(store, digest_id, "# Changed on the command line\n", "ann", "cli")
    request_review(store, settings, digest_id, actor="ann", via="cli")
    with caplog.at_level(logging.WARNING):
        [result] = answer(env, reply(mail, "approve\n"))
    assert result.action == "ignored" and "revision 1" in result.reason and "revision 2" in result.reason
    assert lifecycle.get(store, digest_id).state == "awaiting"
    assert "ignored reply" in caplog.text and len(notices(server)) == 1


def test_a_replayed_token_is_ignored_logged_and_reported(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    _settings, store, server = env
    digest_id, mail = awaiting(env)
    first = reply(mail, "reject not yet\n")
    assert answer(env, first)[0].action == "rejected"
    with caplog.at_level(logging.WARNING):
        [again] = answer(env, reply(mail, "approve\n"))  # a new mail with the used token
    assert again.action == "ignored" and "replay" in again.reason
    assert lifecycle.get(store, digest_id).state == "rejected"
    assert "replay" in caplog.text and len(notices(server)) == 1
    # The very same reply seen twice (a re-poll) is a duplicate, not an attack: no alarm.
    [dup] = answer(env, first)
    assert dup.action == "duplicate" and len(notices(server)) == 1


def test_a_reply_to_a_decided_draft_is_ignored(env: Env) -> None:
    _settings, store, _server = env
    digest_id, mail = awaiting(env)
    lifecycle.approve(store, digest_id, "ann", "cli")
    [result] = answer(env, reply(mail, "reject changed my mind\n"))
    assert result.action == "ignored" and "already approved" in result.reason


def test_an_unreadable_answer_is_reported_and_the_token_stays_usable(env: Env) -> None:
    _settings, _store, server = env
    _digest_id, mail = awaiting(env)
    [result] = answer(env, reply(mail, "Looks fine to me, thanks!\n"))
    assert result.action == "ignored" and "no approve" in result.reason
    assert len(notices(server)) == 1
    assert answer(env, reply(mail, "approve\n"))[0].action == "approved"


def test_auto_replies_and_other_mail_are_left_alone(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    _settings, store, server = env
    digest_id, mail = awaiting(env)
    out_of_office = reply(mail, "approve\n", headers={"Auto-Submitted": "auto-replied"})
    unrelated = reply(None, "Hi bot, how are you?\n", subject="hello", sender="someone@example.net")
    results = answer(env, out_of_office, unrelated)
    assert [r.action for r in results] == ["auto-reply", "not-review"]
    assert lifecycle.get(store, digest_id).state == "awaiting" and notices(server) == []


def test_one_notice_for_a_batch_of_ignored_replies(env: Env) -> None:
    _settings, _store, server = env
    _digest_id, mail = awaiting(env)
    results = answer(env, reply(mail, "approve\n", sender="a@example.net"), reply(mail, "approve\n", sender="b@x.y"))
    assert [r.action for r in results] == ["ignored", "ignored"]
    [notice] = notices(server)
    assert "a@example.net" in text_of(notice) and "b@x.y" in text_of(notice)


# -- DKIM --------------------------------------------------------------------------


def _dkim_key() -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def _signed(raw: bytes, private: bytes, domain: bytes = b"example.org") -> bytes:
    import dkim

    return dkim.sign(raw, b"sel", domain, private) + raw  # type: ignore[no-any-return]


def test_dkim_required_accepts_only_a_signature_by_the_from_domain(tmp_path: Path, smtp_server: SmtpServer,
                                                                  review_secret: str) -> None:
    settings = settings_for(tmp_path, smtp_server, review_extra="require_dkim = true\n")
    env = (settings, open_store(settings.store_url), smtp_server)
    private, record = _dkim_key()
    dns = {b"sel._domainkey.example.org.": record, b"sel._domainkey.evil.example.": record}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return dns.get(name)

    digest_id, mail = awaiting(env)
    unsigned = reply(mail, "approve\n")
    wrong_domain = _signed(reply(mail, "approve\n"), private, b"evil.example")
    tampered = _signed(reply(mail, "reject no\n"), private).replace(b"reject no", b"approve  ")
    results = answer(env, unsigned, wrong_domain, tampered, dkim_dns=lookup)
    assert [r.action for r in results] == ["ignored"] * 3 and all("DKIM" in r.reason for r in results)
    assert lifecycle.get(env[1], digest_id).state == "awaiting"
    good = _signed(reply(mail, "approve\n"), private)
    assert dkim_pass(good, CHAIR, lookup)
    assert answer(env, good, dkim_dns=lookup)[0].action == "approved"


# -- reading a reply ---------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    ("approve\n", ("approve", "")),
    ("  APPROVED!\n\nThanks\n", ("approve", "")),
    ("> digestbot: draft #1\n> quoted\n\napprove\n", ("approve", "")),
    ("reject: wrong week\n", ("reject", "wrong week")),
    ("Reject\nthe summary of item 2\nis wrong\n> quoted\n", ("reject", "the summary of item 2 is wrong")),
    ("rejection letter\n", ("unknown", "")),
    ("I approve\n", ("unknown", "")),
    ("edit\n# Title\n\nText\n", ("edit", "# Title\n\nText\n")),
    ("# Title\n\n> a real blockquote\n\nText\n\nOn Mon, 1 Jan 2024, bot wrote:\n> old\n",
     ("edit", "# Title\n\n> a real blockquote\n\nText\n")),
    ("---\nupdated: 2014\n---\n\n### Agenda ###\n", ("edit", "---\nupdated: 2014\n---\n\n### Agenda ###\n")),
    ("", ("unknown", "")),
])
def test_parse_command(body: str, expected: tuple[str, str]) -> None:
    assert parse_command(body) == expected


def test_is_for_bot(env: Env) -> None:
    settings, _store, _server = env
    assert is_for_bot(reply(None, "approve\n"), settings)
    assert is_for_bot(b"To: Unsubscribe <unsubscribe@example.org>\nSubject: x\n\nbody\n", settings)
    assert is_for_bot(b"To: " + LIST.encode() + b"\nCc: " + BOT.upper().encode() + b"\n\nbody\n", settings)
    assert not is_for_bot(b"To: " + LIST.encode() + b"\nSubject: approve\n\napprove\n", settings)
    # The bot's own mailbox adds Delivered-To to list traffic; a list copy carries List-Id.
    assert not is_for_bot(b"Delivered-To: " + BOT.encode() + b"\nTo: " + LIST.encode() + b"\n\nx\n", settings)
    assert not is_for_bot(b"To: " + BOT.encode() + b"\nList-Id: <dev.lists.example.org>\n\nx\n", settings)


# -- properties --------------------------------------------------------------------


@given(st.integers(1, 10**6), st.integers(1, 999), st.integers(1, 10**6), st.integers(1, 999))
def test_a_token_is_good_for_exactly_its_own_draft_and_revision(a: int, r: int, b: int, s: int) -> None:
    token = review_token(SECRET, a, r)
    assert is_valid(SECRET, Tag(a, r, token))
    assert is_valid(SECRET, Tag(b, s, token)) == ((a, r) == (b, s))
    assert not is_valid("another-secret-0123456789", Tag(a, r, token))
    subject = f"Re: AW: {subject_tag(a, r, token)} [driftwood-devel] Weekly Meeting"
    assert find_tag(subject) == Tag(a, r, token)


@given(st.text())
def test_reading_any_reply_never_fails(body: str) -> None:
    kind, argument = parse_command(body)
    assert kind in {"approve", "reject", "edit", "unknown"}
    assert kind in {"reject", "edit"} or argument == ""


def test_the_poll_hook_keeps_bot_mail_out_of_the_list_and_acts_on_it(env: Env) -> None:
    from bot.mail.ingest import ingest
    from bot.model import RawMail
    from bot.review.replies import BotMail
    from tests.helpers.mailfactory import make_raw

    settings, store, _server = env
    digest_id, mail = awaiting(env)
    progress: list[int] = []
    hook = BotMail(lambda: store, settings)
    stream = [RawMail(make_raw(1, body="list traffic\n"), "imap:INBOX/1"),
              RawMail(reply(mail, "approve\n"), "imap:INBOX/2"),
              RawMail(make_raw(2, body="more list traffic\n"), "imap:INBOX/3")]
    report = ingest(store, hook.filter(stream), settings.limits, expected=3,
                    on_progress=lambda _n: progress.append(len(hook.flush())))
    hook.flush()
    assert report.new == 2 and store.counts()["messages"] == 2  # the reply is not list mail
    assert [r.action for r in hook.results] == ["approved"] and progress
    assert lifecycle.get(store, digest_id).state == "approved"


def test_without_a_configured_secret_bot_mail_is_ignored_not_fatal(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """A stranger's mail that looks like an unsubscribe or an approval must not stop the poll."""
    from dataclasses import replace

    settings, store, _server = env
    bare = replace(settings, review=replace(settings.review, secret_env="", secret_file=""))
    fake_unsub = reply(None, "unsubscribe\n", sender="stranger@example.net",
                       subject="unsubscribe 0123456789abcdef0123")
    fake_approve = reply(None, "approve\n", subject="[digestbot #1 r1 0123456789abcdef0123] digest")
    results = process_replies(store, bare, [parsed(fake_unsub, bare), parsed(fake_approve, bare)])
    assert [r.action for r in results] == ["not-review", "ignored"]
    assert "review.secret is not configured" in caplog.text
