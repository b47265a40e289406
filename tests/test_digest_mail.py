"""One mail builder: the preview (`draft`/`show --format eml`) is the mail `send` sends.

They may differ only in what the caller passes in: Date and Message-ID, and in
roster mode To and List-Unsubscribe (per subscriber).
"""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from bot.delivery.send import send_approved
from bot.pipeline.digest import render_options
from bot.render.digest import render
from bot.render.message import bot_address
from bot.review import lifecycle
from bot.review.mail import ReviewTag, digest_message, parts_from_digest, review_message
from bot.review.roster import add
from bot.review.view import show
from bot.settings import ListSettings, Settings, SmtpSettings, with_store
from bot.store.database import open_store
from tests.helpers.mailfactory import make_raw, mbox_of
from tests.helpers.reviewkit import CHAIR, SECRET, SECRET_ENV, make_digest, settings_for
from tests.helpers.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
NAMED_LIST = "Dev List <devel@lists.example.org>"
DERIVED_FROM = "digestbot@lists.example.org"
PER_CALL = {"date", "message-id"}  # passed in by each caller, never derived
PER_RECIPIENT = {"to", "list-unsubscribe"}


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def split(raw: bytes, skip: set[str]) -> tuple[list[tuple[str, str]], bytes]:
    """(header name and value in order, minus `skip`; the body, byte for byte)."""
    head, body = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)
    headers = [(name, str(value)) for name, value in parse(head + b"\n\n").items() if name.lower() not in skip]
    return headers, body


def assert_same_mail(sent: bytes, preview: bytes, skip: set[str]) -> None:
    """Header by header and body by body (each MIME part), then byte for byte."""
    sent_headers, sent_body = split(sent, skip)
    preview_headers, preview_body = split(preview, skip)
    assert sent_headers == preview_headers
    sent_parts = [(p.get_content_type(), p.get_payload(decode=True)) for p in parse(sent).walk()]
    preview_parts = [(p.get_content_type(), p.get_payload(decode=True)) for p in parse(preview).walk()]
    assert sent_parts == preview_parts
    assert [ctype for ctype, _ in sent_parts] == ["multipart/alternative", "text/plain", "text/html"]
    assert sent_body == preview_body


def named_list_settings(tmp_path: Path) -> Settings:
    """A list address with a display name, and no smtp.from_address: From must be derived."""
    plain = Settings(list=ListSettings(name="driftwood-devel", address=NAMED_LIST),
                     smtp=SmtpSettings(host="127.0.0.1"))
    return with_store(plain, f"sqlite:///{tmp_path}/s.db")


# -- (a) From comes from parsing the list address --------------------------------------------


def test_from_is_parsed_out_of_a_named_list_address(tmp_path: Path, review_secret: str) -> None:
    settings = named_list_settings(tmp_path)
    assert bot_address(settings) == DERIVED_FROM
    digest = make_digest()

    unsaved = parse(render(digest, "eml", render_options(settings)).encode())
    assert unsaved["From"] == DERIVED_FROM
    assert str(unsaved["Message-ID"]).endswith("@lists.example.org>")
    assert unsaved["To"] == unsaved["Reply-To"] == NAMED_LIST

    store = open_store(settings.store_url)
    draft = lifecycle.store_draft(store, settings, digest, "ann", "cli")
    stored = lifecycle.get(store, draft.id)
    assert stored.mail_message_id.endswith("@lists.example.org>")
    preview = parse(show(store, settings, draft.id, "eml").encode())
    assert preview["From"] == DERIVED_FROM and preview["Message-ID"] == stored.mail_message_id

    parts, _data = parts_from_digest(digest, settings)
    tag = ReviewTag(draft.id, 1, "t" * 20, datetime(2014, 8, 27, tzinfo=UTC), "the list")
    review = review_message(parts, settings, tag, to=CHAIR, date=datetime(2014, 8, 26, tzinfo=UTC))
    assert review["From"] == review["Reply-To"] == DERIVED_FROM
    assert str(review["Message-ID"]).endswith("@lists.example.org>")
    sent = digest_message(parts, settings, message_id=stored.mail_message_id, to=NAMED_LIST,
                          date=datetime(2014, 8, 26, tzinfo=UTC))
    assert sent["From"] == DERIVED_FROM


# -- (b) the preview is what goes out ------------------------------------------------------


def cli(config: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "bot.cli.main", "--config", str(config), *args], cwd=ROOT,
                            env={**os.environ, SECRET_ENV: SECRET}, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_draft_and_show_eml_are_the_mail_send_sends(tmp_path: Path, smtp_server: SmtpServer) -> None:
    config = tmp_path / "digestbot.toml"
    config.write_text(
        f'[list]\nname = "driftwood-devel"\naddress = "{NAMED_LIST}"\n'
        '[store]\npath = "store.sqlite3"\n'
        f'[digest]\nchair = "Maya Okafor"\nchair_address = "{CHAIR}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\ntls = "none"\nmode = "list"\ntimeout = 5.0\n'
        f'[review]\nchair_addresses = ["{CHAIR}"]\nsecret_env = "{SECRET_ENV}"\n',
        encoding="utf-8",
    )
    mbox = tmp_path / "week.mbox"
    mbox.write_bytes(mbox_of([
        make_raw(1, subject="Release plan for 2.0", body="We agreed to release 2.0 on 1 September.\n"),
        make_raw(2, subject="Re: Release plan for 2.0", sender="Bob Builder <bob@example.org>",
                 body="I will prepare the changelog by Friday.\n", reply_to=1),
    ]))
    cli(config, "import", str(mbox))
    unsaved = cli(config, "draft", "--week-of", "2014-08-20", "--format", "eml").encode()
    saved_file = tmp_path / "draft.eml"
    cli(config, "draft", "--week-of", "2014-08-20", "--save", "--format", "eml", "--output", str(saved_file))
    cli(config, "approve", "1")
    preview = cli(config, "show", "1", "--format", "eml").encode()
    assert saved_file.read_bytes() == preview  # `draft --save` previews the stored draft itself
    assert cli(config, "show", "1", "--format", "eml").encode() == preview  # no clock, no random boundary

    assert "sent to 1 of 1 (done)" in cli(config, "send")
    [got] = smtp_server.received
    assert got.mail_from == DERIVED_FROM and got.rcpt_tos == ("devel@lists.example.org",)
    assert_same_mail(got.raw, preview, PER_CALL)
    assert parse(got.raw)["Message-ID"] == parse(preview)["Message-ID"]  # the stored id, in both
    assert parse(preview)["From"] == DERIVED_FROM
    # The unsaved preview has no stored Message-ID yet; everything else is the same mail.
    assert_same_mail(got.raw, unsaved, PER_CALL)


def test_roster_preview_differs_from_each_copy_only_per_recipient(tmp_path: Path, smtp_server: SmtpServer,
                                                                   review_secret: str) -> None:
    settings = settings_for(tmp_path, smtp_server, mode="roster")
    store = open_store(settings.store_url)
    for address in ("ann@example.org", "bob@example.net"):
        add(store, address, address.split("@")[0].title())
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, draft.id, CHAIR, "cli")
    preview = show(store, settings, draft.id, "eml").encode()

    send_approved(store, settings)

    assert len(smtp_server.received) == 2
    for got in smtp_server.received:
        sent = parse(got.raw)
        assert sent["Message-ID"] == lifecycle.get(store, draft.id).mail_message_id == parse(preview)["Message-ID"]
        assert sent["List-Unsubscribe"] is not None and parse(preview)["List-Unsubscribe"] is None
        assert_same_mail(got.raw, preview, PER_CALL | PER_RECIPIENT)
