"""The rows both write paths store and both read paths return, built once for the two drivers."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.model import Mail
from bot.store.sqlite import utc

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bot.model import RawMail
    from bot.store.identity import Placed

MAIL_COLUMNS = ("message_id", "subject", "from_name", "from_addr", "date", "in_reply_to", "refs", "body",
                "attachments", "flags", "header_id")


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Stored:
    """The outcome of storing one raw message."""

    pk: int
    message_id: str
    new: bool
    raw: bytes


def message_row(placed: Placed, mail: RawMail, stamp: datetime) -> dict[str, Any]:
    """The `messages` row of a newly stored message (its raw bytes go to `message_raw`)."""
    return {"message_id": placed.key, "sha256": hashlib.sha256(mail.raw).hexdigest(), "size": len(mail.raw),
            "origin": mail.origin, "imported_at": stamp, "state": "new", "flags": "",
            "fingerprint": placed.fingerprint, "header_id": placed.header_id}


def parsed_row(pk: int, mail: Mail) -> dict[str, Any]:
    """What parsing sets in the `messages` row `pk` ("pk" is the key, the rest are columns)."""
    return {
        "pk": pk, "state": "flagged" if mail.flags else "parsed", "flags": " ".join(sorted(mail.flags)),
        "date": mail.date.astimezone(UTC), "subject": mail.subject, "from_name": mail.from_name,
        "from_addr": mail.from_addr,
        "in_reply_to": mail.in_reply_to, "refs": " ".join(mail.references), "body": mail.body,
        "attachments": json.dumps(list(mail.attachments)),
    }


def mail_from_values(values: Sequence[Any]) -> Mail:
    """A `Mail` from one row of MAIL_COLUMNS, as either driver returns it."""
    message_id, subject, from_name, from_addr, date, in_reply_to, refs, body, attachments, flags, header_id = values
    return Mail(
        message_id=message_id, subject=subject or "", from_name=from_name or "", from_addr=from_addr or "",
        date=utc(date), in_reply_to=in_reply_to or None,
        references=tuple(refs.split()) if refs else (), body=body or "",
        attachments=tuple(json.loads(attachments or "[]")), flags=frozenset(flags.split()),
        header_id=header_id or "",
    )
