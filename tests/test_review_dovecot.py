"""The chair's reply through a real IMAP server (Dovecot), and the Drafts-folder copy."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from bot import review
from bot.review_notify import request_review
from bot.review_replies import handle_bot_mail, is_for_bot
from bot.settings import Settings
from bot.store import Store, open_store
from tests.dovecot import Dovecot
from tests.mailfactory import make_raw
from tests.reviewkit import make_digest, reply, review_mails, settings_for
from tests.smtp_server import SmtpServer

PASSWORD_ENV = "DIGESTBOT_TEST_IMAP_PASSWORD"


@pytest.fixture()
def env(tmp_path: Path, smtp_server: SmtpServer, dovecot: Dovecot, review_secret: str,
        monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Store]:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    source = (f'[source]\nhost = "{dovecot.host}"\nport = {dovecot.port}\ntls = "none"\n'
              f'username = "{dovecot.user}"\npassword_env = "{PASSWORD_ENV}"\n')
    settings = settings_for(tmp_path, smtp_server, review_extra='drafts_folder = "Drafts"\n', source=source)
    return settings, open_store(settings.store_url)


def fetch_all(dovecot: Dovecot, folder: str) -> list[tuple[tuple[bytes, ...], bytes]]:
    with dovecot.client() as client:
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search(), ["FLAGS", "BODY.PEEK[]"])
        return [(tuple(data[b"FLAGS"]), data[b"BODY[]"]) for _uid, data in sorted(found.items())]


def test_a_reply_read_from_the_bots_mailbox_approves(env: tuple[Settings, Store], smtp_server: SmtpServer,
                                                     dovecot: Dovecot) -> None:
    settings, store = env
    draft = review.store_draft(store, settings, make_digest(), "scheduler", "scheduler")
    request_review(store, settings, draft.id, actor="scheduler", via="scheduler")
    [mail] = review_mails(smtp_server)
    list_traffic = make_raw(1, subject="Re: approve the release?", body="approve\n")
    forged = reply(mail, "approve\n", sender="mallory@example.net")
    dovecot.deliver("INBOX", [list_traffic, forged, reply(mail, "approve\n")])
    # What the poll hook does: pick out mail addressed to the bot, hand it over.
    raws = [raw for _flags, raw in fetch_all(dovecot, "INBOX")]
    for_bot = [raw for raw in raws if is_for_bot(raw, settings)]
    assert len(for_bot) == 2
    results = handle_bot_mail(store, settings, for_bot)
    assert [r.action for r in results] == ["ignored", "approved"]
    assert review.get(store, draft.id).state == "approved"


def test_the_draft_also_lands_in_the_drafts_folder_as_a_ready_answer(env: tuple[Settings, Store],
                                                                     dovecot: Dovecot) -> None:
    settings, store = env
    draft = review.store_draft(store, settings, make_digest(), "ann", "cli")
    request_review(store, settings, draft.id, actor="ann", via="cli")
    [(flags, raw)] = fetch_all(dovecot, "Drafts")
    assert b"\\Draft" in flags
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["Subject"]).startswith(f"Re: [digestbot #{draft.id} r1 ")
    assert msg["To"] == settings.smtp.from_address
    body = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert body.startswith("approve\n") and "#### Conduit merge ####" in body
    # Sent as it is from the chair's client, it approves.
    assert [r.action for r in handle_bot_mail(store, settings, [raw])] == ["approved"]


def test_an_unreachable_drafts_folder_does_not_stop_the_review(env: tuple[Settings, Store], dovecot: Dovecot,
                                                               smtp_server: SmtpServer) -> None:
    settings, store = env
    dovecot.stop()
    draft = review.store_draft(store, settings, make_digest(), "ann", "cli")
    assert request_review(store, settings, draft.id, actor="ann", via="cli").state == "awaiting"
    assert len(review_mails(smtp_server)) == 1
