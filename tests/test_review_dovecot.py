"""The bot's own mail through the real poll: `digestbot poll` against Dovecot, `digestbot send` to aiosmtpd.

The chair's answers to review mail and unsubscribe requests arrive in the
mailbox the bot polls, among the list's traffic; the poll acts on them and
keeps them out of the list's store (and so out of every digest).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import unquote

import pytest

from bot.delivery.send import send_approved
from bot.pipeline.digest import build_digest
from bot.review import lifecycle
from bot.review.inbox import poll_list as poll
from bot.review.notify import request_review
from bot.review.roster import add, members
from bot.settings import Settings
from bot.store import sqlite_path
from bot.store.database import Store, open_store
from tests.helpers.dovecot import Dovecot
from tests.helpers.mailfactory import make_raw
from tests.helpers.reviewkit import (
    CHAIR,
    END,
    LIST,
    SECRET,
    SECRET_ENV,
    START,
    UNSUB,
    make_digest,
    notices,
    only,
    reply,
    review_mails,
    settings_for,
    text_of,
)
from tests.helpers.smtp_server import SmtpServer

PASSWORD_ENV = "DIGESTBOT_TEST_IMAP_PASSWORD"
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(Path(sys.executable).parent / "digestbot")
ROSTER = ["ann@example.org", "bob@example.net", "carla@example.com"]


def source_config(dovecot: Dovecot) -> str:
    return (f'[source]\nhost = "{dovecot.host}"\nport = {dovecot.port}\ntls = "none"\n'
            f'username = "{dovecot.user}"\npassword_env = "{PASSWORD_ENV}"\n')


@pytest.fixture()
def env(tmp_path: Path, smtp_server: SmtpServer, dovecot: Dovecot, review_secret: str,
        monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Store]:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    settings = settings_for(tmp_path, smtp_server, review_extra='drafts_folder = "Drafts"\n',
                            source=source_config(dovecot))
    return settings, open_store(settings.store_url)


@pytest.fixture()
def roster_env(tmp_path: Path, smtp_server: SmtpServer, dovecot: Dovecot, review_secret: str,
               monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Store]:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    settings = settings_for(tmp_path, smtp_server, mode="roster", source=source_config(dovecot))
    store = open_store(settings.store_url)
    for address in ROSTER:
        add(store, address)
    return settings, store


def digestbot(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as cron or a user runs it (the secrets come from the environment)."""
    assert settings.config_path is not None
    return subprocess.run([SCRIPT, "--config", str(settings.config_path), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def awaiting(settings: Settings, store: Store, server: SmtpServer) -> tuple[int, EmailMessage]:
    draft = lifecycle.store_draft(store, settings, make_digest(), "scheduler", "scheduler")
    request_review(store, settings, draft.id, actor="scheduler", via="scheduler")
    [mail] = review_mails(server)
    return draft.id, mail


def this_week(settings: Settings, store: Store) -> list[str]:
    """Who is in the digest of the week the test runs in (the replies are dated now)."""
    today = datetime.now(UTC)
    digest = build_digest(store, settings, today - timedelta(days=6), today + timedelta(days=1))
    return sorted(mail.from_addr for section in digest.sections for item in section.items
                  for thread in item.threads for mail in thread.mails)


def fetch_all(dovecot: Dovecot, folder: str) -> list[tuple[tuple[bytes, ...], bytes]]:
    with dovecot.client() as client:
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search(), ["FLAGS", "BODY.PEEK[]"])
        return [(tuple(data[b"FLAGS"]), data[b"BODY[]"]) for _uid, data in sorted(found.items())]


def test_a_polled_approve_reply_approves_and_send_delivers(env: tuple[Settings, Store], smtp_server: SmtpServer,
                                                           dovecot: Dovecot) -> None:
    settings, store = env
    digest_id, mail = awaiting(settings, store, smtp_server)
    now = datetime.now(UTC)
    # List traffic that merely says "approve" approves nothing: it is the list's, and goes in the store.
    list_traffic = make_raw(1, subject="Re: approve the release?", body="approve\n", when=now)
    dovecot.deliver("INBOX", [list_traffic, reply(mail, "approve\n")])

    polled = digestbot(settings, "poll")

    assert ok(polled) == "INBOX: 1 new (0 already stored), last UID 2, 1 to the bot (1 approved)\n"
    assert lifecycle.get(store, digest_id).state == "approved"
    last = lifecycle.history(store, digest_id)[-1]
    assert (last.to_state, last.actor, last.via) == ("approved", CHAIR, "email")
    assert store.counts()["messages"] == 1  # the reply is not list mail
    assert this_week(settings, store) == ["ann@example.org"]
    assert notices(smtp_server) == []

    smtp_server.handler.received.clear()
    sent = ok(digestbot(settings, "send"))

    assert sent.startswith(f"#{digest_id} [driftwood-devel] Weekly Meeting: 2014-08-20") and "(done)" in sent
    got = only(smtp_server.received)
    assert got.rcpt_tos == (LIST,) and got.message["Message-ID"] == lifecycle.get(store, digest_id).mail_message_id
    assert "Conduit merge" in text_of(got.message)
    assert lifecycle.get(store, digest_id).state == "sent"
    assert ok(digestbot(settings, "poll")) == "INBOX: nothing new\n"


def test_a_forged_reply_is_ignored_logged_and_the_chair_told(env: tuple[Settings, Store], smtp_server: SmtpServer,
                                                             dovecot: Dovecot) -> None:
    settings, store = env
    digest_id, mail = awaiting(settings, store, smtp_server)
    # Mallory saw the review mail (its token is real), but is not a chair.
    dovecot.deliver("INBOX", [reply(mail, "approve\n", sender="mallory@example.net")])

    polled = digestbot(settings, "poll")

    assert ok(polled) == "INBOX: 0 new (0 already stored), last UID 1, 1 to the bot (1 ignored)\n"
    assert "ignored reply" in polled.stderr and "not from a chair address (mallory@example.net)" in polled.stderr
    assert lifecycle.get(store, digest_id).state == "awaiting"
    [notice] = notices(smtp_server)
    assert notice["To"] == CHAIR and "ignored 1 reply" in str(notice["Subject"])
    assert "mallory@example.net" in text_of(notice)
    assert store.counts()["messages"] == 0 and this_week(settings, store) == []
    assert ok(digestbot(settings, "send")) == "nothing to send\n"
    assert len(smtp_server.received) == 2  # the review mail and the notice: no digest


def test_an_unsubscribe_mail_is_read_by_the_poll(roster_env: tuple[Settings, Store], smtp_server: SmtpServer,
                                                 dovecot: Dovecot) -> None:
    settings, store = roster_env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, draft.id, CHAIR, "cli")
    send_approved(store, settings)
    to_bob = only(smtp_server.to("bob@example.net")).message
    target, _, query = str(to_bob["List-Unsubscribe"]).strip().strip("<>").partition("?subject=")
    assert target == f"mailto:{UNSUB}"
    # Bob's unsubscribe button mails the mailto's subject to the unsubscribe address, which lands
    # in the bot's mailbox next to the list's own traffic.
    request = EmailMessage(policy=email.policy.SMTP)
    request["From"], request["To"], request["Subject"] = "bob@example.net", UNSUB, unquote(query)
    request["Message-ID"], request["Auto-Submitted"] = make_msgid(domain="example.net"), "auto-generated"
    request.set_content("This message was automatically generated by Gmail.\n")
    list_traffic = make_raw(1, subject="Next steps", when=datetime.now(UTC))
    dovecot.deliver("INBOX", [request.as_bytes(), list_traffic])

    polled = digestbot(settings, "poll")

    assert ok(polled) == "INBOX: 1 new (0 already stored), last UID 2, 1 to the bot (1 unsubscribed)\n"
    assert [m.address for m in members(store)] == ["ann@example.org", "carla@example.com"]
    [gone] = [m for m in members(store, include_inactive=True) if not m.active]
    assert (gone.address, gone.changed_via) == ("bob@example.net", "email")
    assert store.counts()["messages"] == 1 and this_week(settings, store) == ["ann@example.org"]
    following = make_digest(START + timedelta(days=7), END + timedelta(days=7), title="Weekly Meeting: 2014-08-27")
    next_week = lifecycle.store_draft(store, settings, following, "ann", "cli")
    lifecycle.approve(store, next_week.id, CHAIR, "cli")
    smtp_server.handler.received.clear()
    ok(digestbot(settings, "send"))
    assert sorted(smtp_server.recipients()) == ["ann@example.org", "carla@example.com"]


def test_a_reply_read_again_is_not_acted_on_twice(env: tuple[Settings, Store], smtp_server: SmtpServer,
                                                  dovecot: Dovecot) -> None:
    """A poll killed after acting on a reply but before its sync state moved reads the reply again."""
    settings, store = env
    digest_id, mail = awaiting(settings, store, smtp_server)
    dovecot.deliver("INBOX", [make_raw(1), reply(mail, "reject not yet: wait for the vote\n")])
    assert poll(settings).line() == "INBOX: 1 new (0 already stored), last UID 2, 1 to the bot (1 rejected)"
    path = sqlite_path(settings.store_url)
    assert path is not None
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE sync_state SET last_uid = 0")

    again = poll(settings)

    assert again.line() == "INBOX: 0 new (1 already stored), last UID 2, 1 to the bot (1 duplicate)"
    assert lifecycle.get(store, digest_id).state == "rejected"
    assert len(lifecycle.history(store, digest_id)) == 3  # drafted, awaiting, rejected: once
    assert notices(smtp_server) == []


def test_the_draft_also_lands_in_the_drafts_folder_as_a_ready_answer(env: tuple[Settings, Store],
                                                                     dovecot: Dovecot) -> None:
    settings, store = env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    request_review(store, settings, draft.id, actor="ann", via="cli")
    [(flags, raw)] = fetch_all(dovecot, "Drafts")
    assert b"\\Draft" in flags
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["Subject"]).startswith(f"Re: [digestbot #{draft.id} r1 ")
    assert msg["To"] == settings.smtp.from_address
    body = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert body.startswith("approve\n") and "#### Conduit merge ####" in body
    # Sent as it is from the chair's client, it lands in the bot's mailbox, and the poll approves.
    dovecot.deliver("INBOX", [raw])
    assert poll(settings).line() == "INBOX: 0 new (0 already stored), last UID 1, 1 to the bot (1 approved)"
    assert lifecycle.get(store, draft.id).state == "approved"


def test_an_unreachable_drafts_folder_does_not_stop_the_review(env: tuple[Settings, Store], dovecot: Dovecot,
                                                               smtp_server: SmtpServer) -> None:
    settings, store = env
    dovecot.stop()
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    assert request_review(store, settings, draft.id, actor="ann", via="cli").state == "awaiting"
    assert len(review_mails(smtp_server)) == 1


def test_a_config_error_stops_the_poll_before_the_reply_is_passed(env: tuple[Settings, Store],
                                                                  smtp_server: SmtpServer, dovecot: Dovecot,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    settings, store = env
    digest_id, mail = awaiting(settings, store, smtp_server)
    dovecot.deliver("INBOX", [make_raw(1), reply(mail, "approve\n")])
    monkeypatch.delenv(SECRET_ENV)  # the key that checks the reply's token is gone

    failed = digestbot(settings, "poll")

    assert failed.returncode == 2 and failed.stdout == ""
    assert f"review.secret: environment variable {SECRET_ENV} is not set" in failed.stderr
    assert lifecycle.get(store, digest_id).state == "awaiting"
    monkeypatch.setenv(SECRET_ENV, SECRET)
    # The sync state did not move past the reply: the next poll, with the config fixed, acts on it.
    assert ok(digestbot(settings, "poll")) == "INBOX: 0 new (1 already stored), last UID 2, 1 to the bot (1 approved)\n"
    assert lifecycle.get(store, digest_id).state == "approved"
