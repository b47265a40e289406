"""Hand-written test mail: small, readable messages built to order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

BASE = datetime(2014, 8, 18, 9, 0, tzinfo=UTC)


def make_raw(
    n: int,
    *,
    subject: str = "Topic",
    sender: str = "Ann Example <ann@example.org>",
    body: str = "Hello list.\n",
    reply_to: int | None = None,
    when: datetime | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A plain-text message with Message-ID <n@test.example>."""
    date = when or BASE + timedelta(hours=n)
    lines = [
        f"From: {sender}",
        "To: dev@lists.example.org",
        f"Subject: {subject}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: <{n}@test.example>",
    ]
    if reply_to is not None:
        lines += [f"In-Reply-To: <{reply_to}@test.example>", f"References: <{reply_to}@test.example>"]
    for key, value in (headers or {}).items():
        lines.append(f"{key}: {value}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body]
    return "\n".join(lines).encode()


def mbox_of(messages: list[bytes]) -> bytes:
    out = []
    for raw in messages:
        body = b"\n".join(b">" + line if line.startswith(b"From ") else line for line in raw.split(b"\n"))
        out.append(b"From MAILER-DAEMON Mon Aug 18 09:00:00 2014\n" + body + b"\n\n")
    return b"".join(out)
