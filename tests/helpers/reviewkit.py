"""Shared pieces of the review and delivery tests: a config, a digest, chair replies."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from bot.mail.parse import parse_mail
from bot.model import Digest, Item, Mail, Section, SummarySentence, Thread
from bot.settings import Settings, load_settings
from tests.helpers.smtp_server import Received, SmtpServer

SECRET_ENV = "DIGESTBOT_REVIEW_SECRET"
SECRET = "test-review-secret-0123456789abcdef"
CHAIR = "maya@example.org"
BOT = "digestbot@example.org"
LIST = "driftwood-devel@lists.example.org"
UNSUB = "unsubscribe@example.org"
START = datetime(2014, 8, 18, tzinfo=UTC)
END = datetime(2014, 8, 25, tzinfo=UTC)


def write_config(tmp_path: Path, smtp: SmtpServer | None, *, mode: str = "list", smtp_extra: str = "",
                 review_extra: str = "", source: str = "") -> Path:
    port = smtp.port if smtp else 1
    tls = smtp.tls if smtp else "none"
    ca = f'ca_file = "{smtp.ca_file}"\n' if smtp and smtp.ca_file else ""
    path = tmp_path / "digestbot.toml"
    path.write_text(
        '[list]\nname = "driftwood-devel"\n'
        f'address = "{LIST}"\narchive_url = "https://lists.example.org/r/{{message_id}}"\n'
        '[store]\npath = "store.sqlite3"\n'
        f'[digest]\nchair = "Maya Okafor"\nchair_address = "{CHAIR}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\ntls = "{tls}"\n{ca}from_address = "{BOT}"\nmode = "{mode}"\n'
        f'unsubscribe_address = "{UNSUB}"\ntimeout = 5.0\n{smtp_extra}'
        f'[review]\nchair_addresses = ["{CHAIR}"]\nsecret_env = "{SECRET_ENV}"\nsend_deadline_hours = 48\n'
        f"{review_extra}{source}",
        encoding="utf-8",
    )
    return path


def settings_for(tmp_path: Path, smtp: SmtpServer | None, **kw: str) -> Settings:
    return load_settings(write_config(tmp_path, smtp, **kw))


def _mail(mid: str, author: str, day: int) -> Mail:
    return Mail(message_id=f"<{mid}@example.org>", subject="s", from_name=author, from_addr=f"{mid}@example.org",
                date=datetime(2014, 8, day, 10, tzinfo=UTC))


def make_digest(start: datetime = START, end: datetime = END, title: str = "Weekly Meeting: 2014-08-20") -> Digest:
    a, b = _mail("m1", "Anil Madhavapeddy", 18), _mail("m2", "Dave Scott", 19)
    thread = Thread(root_id=a.message_id, subject="Conduit merge", mails=(a, b))
    item = Item(title="Conduit merge", threads=(thread,),
                summary=(SummarySentence("The HTTP request works end to end.", a.message_id, a.author),
                         SummarySentence("Vchan support comes when ready.", b.message_id, b.author)),
                actions=("Dave Scott, add vchan support",))
    return Digest(title=title, list_name="driftwood-devel", period_start=start, period_end=end,
                  chair="Maya Okafor", attendees=("Maya Okafor", "Anil Madhavapeddy", "Dave Scott"),
                  sections=(Section("patches", "Patches", (item,)),))


def reply(to_msg: EmailMessage | None, body: str, *, sender: str = CHAIR, subject: str | None = None,
          headers: dict[str, str] | None = None, in_reply_to: bool = True) -> bytes:
    """A chair's reply to a review mail, as a mail client would write it."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"Maya Okafor <{sender}>"
    msg["To"] = BOT
    original = str(to_msg["Subject"]) if to_msg is not None else "Weekly Meeting"
    msg["Subject"] = subject if subject is not None else f"Re: {original}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.org")
    if to_msg is not None and in_reply_to:
        msg["In-Reply-To"] = str(to_msg["Message-ID"])
        msg["References"] = str(to_msg["Message-ID"])
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def parsed(raw: bytes, settings: Settings) -> tuple[Mail, bytes]:
    from bot.store.identity import message_id_of

    return parse_mail(raw, message_id_of(raw), datetime.now(UTC), settings.limits), raw


def review_mails(server: SmtpServer) -> list[EmailMessage]:
    return [got.message for got in server.received if "[digestbot #" in str(got.message["Subject"])]


def notices(server: SmtpServer) -> list[EmailMessage]:
    return [got.message for got in server.received if str(got.message["Subject"]).startswith("[digestbot] ")]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def only(items: list[Received]) -> Received:
    assert len(items) == 1, items
    return items[0]
