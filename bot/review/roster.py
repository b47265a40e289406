"""The roster: who gets the digest in roster mode, and unsubscribing by mail."""

from __future__ import annotations

import hmac
import logging
import re
from email.utils import parseaddr
from typing import Literal
from urllib.parse import quote

from bot.errors import ConfigError
from bot.render.message import bot_address
from bot.review.tokens import unsubscribe_token
from bot.settings import Settings
from bot.store.database import Store, now
from bot.store.subscribers import Subscriber as Subscriber

log = logging.getLogger("digestbot.review")
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+")


def normalize(address: str) -> str:
    bare = parseaddr(address.strip())[1].strip().lower()
    if len(bare) > 254 or not _ADDRESS.fullmatch(bare):  # 254: the longest address SMTP carries (RFC 5321)
        raise ConfigError(f"not an email address: {address!r}")
    return bare


def add(store: Store, address: str, name: str = "", via: Literal["cli", "email"] = "cli") -> bool:
    """Subscribe (or re-subscribe) an address; False if it was already active."""
    bare = normalize(address)
    name = " ".join((name or parseaddr(address)[0]).split())
    return store.subscribers.subscribe(bare, name, via, now())


def remove(store: Store, address: str, via: Literal["cli", "email"] = "cli") -> bool:
    """Unsubscribe; the row stays (inactive) as a record. False if not subscribed."""
    bare = normalize(address)
    return store.subscribers.unsubscribe(bare, via, now())


def members(store: Store, *, include_inactive: bool = False) -> list[Subscriber]:
    return store.subscribers.all(include_inactive=include_inactive)


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
