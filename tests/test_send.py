"""Delivery over real SMTP: both modes, headers, TLS and AUTH, 4xx and 5xx, the ledger."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from bot.delivery.send import RetryPolicy, send_approved
from bot.errors import SendError
from bot.mail.smtp import Mailer
from bot.review import lifecycle
from bot.review.replies import process_replies
from bot.review.roster import add, members, remove
from bot.settings import Settings
from bot.store.database import Store, now, open_store
from bot.store.tables import deliveries
from tests.helpers.reviewkit import (
    BOT,
    CHAIR,
    END,
    LIST,
    START,
    UNSUB,
    make_digest,
    notices,
    only,
    parsed,
    reply,
    settings_for,
    text_of,
)
from tests.helpers.smtp_server import SmtpServer

ROSTER = ["ann@example.org", "bob@example.net", "carla@example.com"]
PASSWORD = "Sm7p-pa55word!"  # must never show up in logs, errors or the store


def approved(settings: Settings, store: Store) -> int:
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, draft.id, CHAIR, "cli")
    return draft.id


def ledger(store: Store, digest_id: int) -> dict[str, tuple[str, int]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries).where(deliveries.c.digest_id == digest_id))
        return {r.recipient: (r.state, r.attempts) for r in rows}


@pytest.fixture()
def list_env(tmp_path: Path, smtp_server: SmtpServer, review_secret: str) -> tuple[Settings, Store, SmtpServer]:
    settings = settings_for(tmp_path, smtp_server)
    return settings, open_store(settings.store_url), smtp_server


@pytest.fixture()
def roster_env(tmp_path: Path, smtp_server: SmtpServer, review_secret: str) -> tuple[Settings, Store, SmtpServer]:
    settings = settings_for(tmp_path, smtp_server, mode="roster")
    store = open_store(settings.store_url)
    for address in ROSTER:
        add(store, address, address.split("@")[0].title())
    return settings, store, smtp_server


# -- list mode -----------------------------------------------------------------


def test_list_mode_sends_once_to_the_list_with_proper_headers(list_env: tuple[Settings, Store, SmtpServer]) -> None:
    settings, store, server = list_env
    digest_id = approved(settings, store)
    report = send_approved(store, settings)
    assert report.lines() == [f"#{digest_id} [driftwood-devel] Weekly Meeting: 2014-08-20 (18–24 Aug 2014): "
                              "sent to 1 of 1 (done)"]
    got = only(server.received)
    assert (got.mail_from, got.rcpt_tos) == (BOT, (LIST,))
    msg = got.message
    assert msg["Message-ID"] == lifecycle.get(store, digest_id).mail_message_id
    assert (msg["From"], msg["To"], msg["Reply-To"]) == (BOT, LIST, LIST)
    assert msg["Subject"] == "[driftwood-devel] Weekly Meeting: 2014-08-20 (18–24 Aug 2014)"
    assert abs(parsedate_to_datetime(str(msg["Date"])) - now()) < timedelta(minutes=1)
    assert msg["Auto-Submitted"] is None and msg["List-Unsubscribe"] is None
    assert lifecycle.get(store, digest_id).state == "sent"
    assert lifecycle.history(store, digest_id)[-1].note == "1 sent"
    assert send_approved(store, settings).lines() == ["nothing to send"]
    assert len(server.received) == 1


@pytest.mark.parametrize("state", ["drafted", "awaiting", "rejected", "superseded"])
def test_nothing_unapproved_ever_goes_out(list_env: tuple[Settings, Store, SmtpServer], state: str) -> None:
    settings, store, server = list_env
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    if state != "drafted":
        lifecycle.transition(store, draft.id, state, "ann", "cli")
    assert send_approved(store, settings).lines() == ["nothing to send"]
    assert server.received == [] and ledger(store, draft.id) == {}


# -- roster mode ---------------------------------------------------------------


def test_roster_mode_one_transaction_per_subscriber(roster_env: tuple[Settings, Store, SmtpServer]) -> None:
    settings, store, server = roster_env
    remove(store, "bob@example.net")
    digest_id = approved(settings, store)
    send_approved(store, settings)
    assert [got.rcpt_tos for got in server.received] == [("ann@example.org",), ("carla@example.com",)]
    message_ids = {got.message["Message-ID"] for got in server.received}
    assert message_ids == {lifecycle.get(store, digest_id).mail_message_id}  # one digest, one stable id
    first = server.received[0].message
    assert first["To"] == "Ann <ann@example.org>" or first["To"] == "ann@example.org"
    assert first["Reply-To"] == LIST
    header = str(first["List-Unsubscribe"]).strip()  # folded: too long for one line
    assert header.startswith(f"<mailto:{UNSUB}?subject=unsubscribe%20") and header.endswith(">")
    assert ledger(store, digest_id) == {"ann@example.org": ("sent", 1), "carla@example.com": ("sent", 1)}


def test_unsubscribe_by_mail(roster_env: tuple[Settings, Store, SmtpServer]) -> None:
    settings, store, server = roster_env
    approved(settings, store)
    send_approved(store, settings)
    to_bob = only(server.to("bob@example.net")).message
    subject = unquote(str(to_bob["List-Unsubscribe"]).split("subject=", 1)[1].rstrip(">"))
    # Gmail's unsubscribe button mails the mailto's subject from bob's address.
    request = reply(None, "\n", sender="bob@example.net", subject=subject)
    forged = reply(None, "\n", sender="bob@example.net", subject="unsubscribe " + "0" * 20)
    results = process_replies(store, settings, [parsed(forged, settings), parsed(request, settings)])
    assert [r.action for r in results] == ["not-review", "unsubscribed"]
    assert [m.address for m in members(store)] == ["ann@example.org", "carla@example.com"]
    inactive = [m for m in members(store, include_inactive=True) if not m.active]
    assert [(m.address, m.changed_via) for m in inactive] == [("bob@example.net", "email")]
    following = make_digest(START + timedelta(days=7), END + timedelta(days=7), title="Weekly Meeting: 2014-08-27")
    next_week = lifecycle.store_draft(store, settings, following, "a", "cli")
    lifecycle.approve(store, next_week.id, CHAIR, "cli")
    server.handler.received.clear()
    send_approved(store, settings)
    assert "bob@example.net" not in server.recipients()


# -- 4xx and 5xx ---------------------------------------------------------------


def test_4xx_is_retried_later_with_backoff(roster_env: tuple[Settings, Store, SmtpServer]) -> None:
    settings, store, server = roster_env
    server.handler.rcpt_replies["bob@example.net"] = "451 4.7.1 greylisted, try later"
    digest_id = approved(settings, store)
    first = send_approved(store, settings).digests[0]
    assert first.sent == ["ann@example.org", "carla@example.com"] and not first.done
    assert ledger(store, digest_id)["bob@example.net"] == ("deferred", 1)
    assert lifecycle.get(store, digest_id).state == "approved"
    soon = send_approved(store, settings, at=now() + timedelta(minutes=1)).digests[0]
    assert soon.waiting == 1 and ledger(store, digest_id)["bob@example.net"] == ("deferred", 1)
    del server.handler.rcpt_replies["bob@example.net"]
    later = send_approved(store, settings, at=now() + timedelta(minutes=6)).digests[0]
    assert later.sent == ["bob@example.net"] and later.done
    assert server.recipients() == ["ann@example.org", "carla@example.com", "bob@example.net"]
    assert lifecycle.get(store, digest_id).state == "sent" and notices(server) == []


def test_4xx_at_data_and_giving_up_after_the_last_attempt(roster_env: tuple[Settings, Store, SmtpServer]) -> None:
    settings, store, server = roster_env
    server.handler.data_replies["carla@example.com"] = "452 4.2.2 mailbox full"
    digest_id = approved(settings, store)
    retry = RetryPolicy(base=timedelta(0), max_attempts=3)
    for _ in range(3):
        send_approved(store, settings, retry=retry)
    assert ledger(store, digest_id)["carla@example.com"] == ("failed", 3)
    assert lifecycle.get(store, digest_id).state == "sent"
    [notice] = notices(server)
    assert "carla@example.com: FAILED (gave up after 3 attempts" in text_of(notice)


def test_5xx_is_recorded_the_rest_continue_and_the_chair_is_told(
        roster_env: tuple[Settings, Store, SmtpServer], caplog: pytest.LogCaptureFixture) -> None:
    settings, store, server = roster_env
    server.handler.rcpt_replies["bob@example.net"] = "550 5.1.1 no such user"
    digest_id = approved(settings, store)
    with caplog.at_level(logging.WARNING, logger="digestbot.send"):
        report = send_approved(store, settings).digests[0]
    assert report.sent == ["ann@example.org", "carla@example.com"] and report.done
    assert report.failed == [("bob@example.net", "RCPT TO: 550 5.1.1 no such user")]
    assert ledger(store, digest_id)["bob@example.net"] == ("failed", 1)
    assert lifecycle.get(store, digest_id).state == "sent"
    assert lifecycle.history(store, digest_id)[-1].note == "2 sent, 1 failed"
    [notice] = notices(server)
    assert notice["To"] == CHAIR and notice["Auto-Submitted"] == "auto-generated"
    assert "bob@example.net: FAILED (RCPT TO: 550 5.1.1 no such user)" in text_of(notice)
    assert "bob@example.net" in caplog.text
    send_approved(store, settings)
    assert server.recipients().count("bob@example.net") == 0  # a 5xx is never retried


def test_an_empty_roster_sends_nothing_and_keeps_the_approval(roster_env: tuple[Settings, Store, SmtpServer]) -> None:
    settings, store, server = roster_env
    for address in ROSTER:
        remove(store, address)
    digest_id = approved(settings, store)
    assert "no active subscribers" in send_approved(store, settings).lines()[0]
    assert lifecycle.get(store, digest_id).state == "approved" and server.received == []


# -- the ledger ------------------------------------------------------------------


def test_a_row_left_sending_is_never_resent_and_the_chair_is_told(
        list_env: tuple[Settings, Store, SmtpServer]) -> None:
    settings, store, server = list_env
    digest_id = approved(settings, store)
    with store.engine.begin() as conn:  # what a run killed during DATA leaves behind
        conn.execute(deliveries.insert().values(digest_id=digest_id, recipient=LIST, revision=1, state="sending",
                                                attempts=0, updated_at=now()))
    report = send_approved(store, settings)
    assert server.to(LIST) == []
    assert ledger(store, digest_id) == {LIST: ("unknown", 1)}
    assert report.digests[0].done and lifecycle.get(store, digest_id).state == "sent"
    assert lifecycle.history(store, digest_id)[-1].note == "1 unknown"
    [notice] = notices(server)
    assert f"#{digest_id} to {LIST}: UNKNOWN" in text_of(notice)


def test_a_connection_lost_during_data_is_unknown(list_env: tuple[Settings, Store, SmtpServer]) -> None:
    settings, store, server = list_env
    digest_id = approved(settings, store)
    server.handler.hang_up_after_data = True
    report = send_approved(store, settings)
    assert report.digests[0].unknown == [(LIST, "connection lost during DATA: SMTPServerDisconnected")]
    assert ledger(store, digest_id) == {LIST: ("unknown", 1)}
    assert len(server.to(LIST)) == 1  # it did arrive: that is why it must not be sent again


def test_no_server_means_nothing_sent_and_nothing_lost(tmp_path: Path, review_secret: str) -> None:
    settings = settings_for(tmp_path, None)  # port 1: connection refused
    store = open_store(settings.store_url)
    digest_id = approved(settings, store)
    with pytest.raises(SendError, match=r"cannot connect to SMTP server 127\.0\.0\.1:1"):
        send_approved(store, settings, mailer=Mailer(settings.smtp, connect_wait=0))
    assert ledger(store, digest_id) == {LIST: ("pending", 0)}
    assert lifecycle.get(store, digest_id).state == "approved"


def test_two_sends_at_once_do_not_both_run(list_env: tuple[Settings, Store, SmtpServer]) -> None:
    from filelock import FileLock

    settings, store, server = list_env
    approved(settings, store)
    with FileLock(settings.store_url.removeprefix("sqlite:///") + ".send.lock"), \
            pytest.raises(SendError, match="another `digestbot send` is running"):
        send_approved(store, settings)
    assert server.received == []


# -- TLS and AUTH ------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_tls_and_auth_with_a_password_from_a_file_or_the_environment(
        tmp_path: Path, review_secret: str, tls: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    server = SmtpServer(tls=tls, cert_dir=tmp_path, auth=("digestbot", PASSWORD)).start()  # type: ignore[arg-type]
    try:
        if tls == "ssl":
            monkeypatch.setenv("DIGESTBOT_SMTP_PASSWORD", PASSWORD)
            extra = 'username = "digestbot"\npassword_env = "DIGESTBOT_SMTP_PASSWORD"\n'
        else:
            (tmp_path / "smtp-password").write_text(PASSWORD + "\n")
            extra = f'username = "digestbot"\npassword_file = "{tmp_path / "smtp-password"}"\n'
        settings = settings_for(tmp_path, server, smtp_extra=extra)
        store = open_store(settings.store_url)
        digest_id = approved(settings, store)
        with caplog.at_level(logging.DEBUG):
            send_approved(store, settings)
        assert server.logins == ["digestbot"] and len(server.to(LIST)) == 1
        assert lifecycle.get(store, digest_id).state == "sent"
        assert PASSWORD not in caplog.text
        assert PASSWORD.encode() not in (tmp_path / "store.sqlite3").read_bytes()
    finally:
        server.stop()


def test_a_wrong_password_is_an_error_that_does_not_show_it(tmp_path: Path, review_secret: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    server = SmtpServer(tls="starttls", cert_dir=tmp_path, auth=("digestbot", PASSWORD)).start()
    try:
        monkeypatch.setenv("DIGESTBOT_SMTP_PASSWORD", "not-" + PASSWORD)
        settings = settings_for(tmp_path, server, smtp_extra='username = "digestbot"\n'
                                                             'password_env = "DIGESTBOT_SMTP_PASSWORD"\n')
        store = open_store(settings.store_url)
        approved(settings, store)
        with pytest.raises(SendError, match="SMTP login as digestbot refused: 535") as caught:
            send_approved(store, settings)
        assert PASSWORD not in str(caught.value) and caught.value.__cause__ is None
        assert server.received == []
    finally:
        server.stop()


def test_starttls_is_never_silently_skipped(tmp_path: Path, smtp_server: SmtpServer, review_secret: str) -> None:
    plain = settings_for(tmp_path, smtp_server)
    settings = replace(plain, smtp=replace(plain.smtp, tls="starttls"))  # the server offers no STARTTLS
    store = open_store(settings.store_url)
    approved(settings, store)
    with pytest.raises(SendError, match="does not offer STARTTLS"):
        send_approved(store, settings)
    assert smtp_server.received == []


def test_no_password_in_clear_text_to_a_remote_host(tmp_path: Path, review_secret: str) -> None:
    plain = settings_for(tmp_path, None, smtp_extra='username = "bot"\npassword_env = "X"\n')
    remote = replace(plain.smtp, host="smtp.example.org")
    with pytest.raises(SendError, match="not sending the SMTP password in clear text"):
        Mailer(remote)  # refused before any connection is tried
    Mailer(replace(plain.smtp, host="::1"))  # loopback is fine (a local relay)


def test_password_env_missing_is_a_clear_config_error(tmp_path: Path, smtp_server: SmtpServer,
                                                      review_secret: str) -> None:
    from bot.errors import ConfigError

    os.environ.pop("DIGESTBOT_SMTP_PASSWORD_UNSET", None)
    settings = settings_for(tmp_path, smtp_server, smtp_extra='username = "bot"\n'
                                                              'password_env = "DIGESTBOT_SMTP_PASSWORD_UNSET"\n')
    store = open_store(settings.store_url)
    approved(settings, store)
    with pytest.raises(ConfigError, match="DIGESTBOT_SMTP_PASSWORD_UNSET is not set"):
        send_approved(store, settings)
