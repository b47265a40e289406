"""The roster: who gets the digest in roster mode, and unsubscribing by mail."""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr, parseaddr
from typing import Literal
from urllib.parse import quote

import sqlalchemy as sa

from bot.errors import ConfigError
from bot.review.mail import bot_address
from bot.review.tokens import unsubscribe_token
from bot.settings import Settings
from bot.store.database import Store, now, subscribers

log = logging.getLogger("digestbot.review")
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+")


@dataclass(frozen=True, slots=True)
class Subscriber:
    address: str
    name: str
    active: bool
    changed_at: datetime
    changed_via: str

    @property
    def display(self) -> str:
        return formataddr((self.name, self.address)) if self.name else self.address


def normalize(address: str) -> str:
    bare = parseaddr(address.strip())[1].strip().lower()
    if not _ADDRESS.fullmatch(bare):
        raise ConfigError(f"not an email address: {address!r}")
    return bare


def add(store: Store, address: str, name: str = "", via: Literal["cli", "email"] = "cli") -> bool:
    """Subscribe (or re-subscribe) an address; False if it was already active."""
    bare = normalize(address)
    name = " ".join((name or parseaddr(address)[0]).split())
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(subscribers).where(subscribers.c.address == bare)).first()
        if row is not None and row.active and (not name or name == row.name):
            return False
        values = {"name": name or (row.name if row else ""), "active": True, "changed_at": now(), "changed_via": via}
        if row is None:
            conn.execute(subscribers.insert().values(address=bare, **values))
        else:
            conn.execute(subscribers.update().where(subscribers.c.address == bare).values(**values))
    return True


def remove(store: Store, address: str, via: Literal["cli", "email"] = "cli") -> bool:
    """Unsubscribe; the row stays (inactive) as a record. False if not subscribed."""
    bare = normalize(address)
    with store.engine.begin() as conn:
        result = conn.execute(subscribers.update().where(subscribers.c.address == bare, subscribers.c.active)
                              .values(active=False, changed_at=now(), changed_via=via))
    return result.rowcount == 1


def members(store: Store, *, include_inactive: bool = False) -> list[Subscriber]:
    query = sa.select(subscribers).order_by(subscribers.c.address)
    if not include_inactive:
        query = query.where(subscribers.c.active)
    with store.engine.connect() as conn:
        return [Subscriber(r.address, r.name, bool(r.active), r.changed_at, r.changed_via) for r in conn.execute(query)]


def unsubscribe_address(settings: Settings) -> str:
    return settings.smtp.unsubscribe_address or bot_address(settings)


def unsubscribe_header(settings: Settings, secret: str, address: str) -> str:
    """List-Unsubscribe for one subscriber: a mailto the bot reads, with a token
    so that only someone who got this address's digest can unsubscribe it."""
    target = parseaddr(unsubscribe_address(settings))[1]
    subject = quote(f"unsubscribe {unsubscribe_token(secret, address)}")
    return f"<mailto:{target}?subject={subject}>"


def unsubscribe_by_token(store: Store, secret: str, token: str) -> str | None:
    """Deactivate the subscriber the token was made for; their address, or None."""
    for member in members(store):
        if hmac.compare_digest(unsubscribe_token(secret, member.address), token):
            remove(store, member.address, via="email")
            log.info("unsubscribed %s by mail", member.address)
            return member.address
    return None
