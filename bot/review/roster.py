"""The roster: who gets the digest in roster mode, and unsubscribing by mail.

Each digest carries a List-Unsubscribe mailto to the bot with the subject
"unsubscribe TOKEN": the token (bot.review.tokens) proves that the sender got
that address's digest, so a forged From unsubscribes nobody.

With [[lists]], the subscriber means the list whose digest they are leaving,
and the same address is often on several lists. So a list's mailto says which
list: "unsubscribe TOKEN from NAME", its token made over the list's name and
the address (`list_token`); the token alone decides, whatever else the mail
says. A token over the address alone (a single-list config's, or a digest sent
before this) is matched on every list whose secret made it, and the mail
decides which of those lists it leaves (`unsubscribe_from_lists`):
  - of the lists it names, those the address is on: a word of the subject that
    is a list's name, an address in To or Cc that only one list uses (its list
    address, or a bot or unsubscribe address of its own), a digest or review
    mail it answers (In-Reply-To, References);
  - a mail that names none: the one list the address is on;
  - else none: the address is on several and nothing says which, or the mail
    names only lists the address is not on (a misremembered name). Nothing
    changes, and the subscriber (the token's address, never the From) is told
    which lists they are on and the subject line that leaves each one. The
    chair is not told: the subscriber is the one who can answer.
With a single [list], an unsubscribe token unsubscribes from that list, as always.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from bot.errors import ConfigError, DigestbotError
from bot.render.message import bot_address
from bot.review.tokens import unsubscribe_token
from bot.settings import Settings
from bot.store.database import Store, now
from bot.store.subscribers import Subscriber as Subscriber

if TYPE_CHECKING:
    from bot.mail.smtp import Mailer

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
    so that only someone who got this address's digest can unsubscribe it
    (and, for a [[lists]] entry, from this list: see the module's docstring)."""
    target = parseaddr(unsubscribe_address(settings))[1]
    return f"<mailto:{target}?subject={quote(unsubscribe_subject(settings, secret, address))}>"


def unsubscribe_subject(settings: Settings, secret: str, address: str) -> str:
    if not settings.list_key:  # a single [list]
        return f"unsubscribe {unsubscribe_token(secret, address)}"
    return f"unsubscribe {list_token(secret, settings.list_key, address)} from {settings.list_key}"


def list_token(secret: str, list_name: str, address: str) -> str:
    """The unsubscribe token of `address` on one list of many ("list:" never starts an address)."""
    return unsubscribe_token(secret, f"list:{list_name}:{address}")


def unsubscribe_by_token(store: Store, secret: str, token: str) -> str | None:
    """Deactivate the subscriber the token was made for; their address, or None."""
    for member in members(store):
        if hmac.compare_digest(unsubscribe_token(secret, member.address), token):
            remove(store, member.address, via="email")
            log.info("unsubscribed %s by mail", member.address)
            return member.address
    return None


@dataclass(frozen=True, slots=True)
class ListsUnsubscribe:
    """What an unsubscribe mail did in a many-list config."""

    address: str = ""  # whose token it carried; "" when it matches no active subscriber
    left: tuple[str, ...] = ()  # the lists it was unsubscribed from
    unclear: tuple[str, ...] = ()  # nothing said which: the lists the address is on (the subscriber was asked)
    why: str = ""  # when nothing changed: the reason


def unsubscribe_from_lists(store: Store, config: Settings, token: str, named: Collection[str], *,
                           mailer: Mailer | None = None) -> ListsUnsubscribe:
    """Act on an unsubscribe token of a [[lists]] config; `named`: the lists the mail names (module docstring)."""
    exact: list[tuple[str, str]] = []  # (list, address) of a list's own token
    on_lists: dict[str, list[str]] = {}  # address -> the lists whose secret made its bare token
    for view in config.lists:
        key = _secret_of(view)
        if key is None:
            continue
        name = view.list.name
        for member in members(store.for_list(view.store_list)):
            if hmac.compare_digest(list_token(key, name, member.address), token):
                exact.append((name, member.address))
            elif hmac.compare_digest(unsubscribe_token(key, member.address), token):
                on_lists.setdefault(member.address, []).append(name)
    if len(exact) == 1:  # the token says which list, whatever the mail says
        return _leave(store, config, exact[0][1], [exact[0][0]])
    if exact:  # one token on lists whose names differ only in case: do not guess
        address, choices = exact[0][1], [name for name, _ in exact]
    elif on_lists:
        address, choices = next(iter(on_lists.items()))
        chosen = [name for name in choices if name in named]
        if chosen or (len(choices) == 1 and not named):
            return _leave(store, config, address, chosen or choices)
    else:
        return ListsUnsubscribe(why="unsubscribe token matches no active subscriber")
    why = f"it names {', '.join(sorted(named))}" if named else "it names no list"
    log.warning("unsubscribe request for %s: %s, and the address is on %s: nothing changed; asked the subscriber",
                address, why, ", ".join(choices))
    ask_which_list(config, address, choices, mailer=mailer)
    return ListsUnsubscribe(address, unclear=tuple(choices), why=why)


def _leave(store: Store, config: Settings, address: str, names: list[str]) -> ListsUnsubscribe:
    for name in names:
        remove(store.for_list(config.for_list(name).store_list), address, via="email")
        log.info("unsubscribed %s from %s by mail", address, name)
    return ListsUnsubscribe(address, left=tuple(names))


def _secret_of(view: Settings) -> str | None:
    from bot.review.notify import secret

    if not view.review.secret.configured:
        return None
    try:
        return secret(view)
    except ConfigError:  # too short: no token of this list can be genuine
        return None


def ask_which_list(config: Settings, address: str, lists: Collection[str], *, mailer: Mailer | None = None) -> bool:
    """Tell `address` it is on `lists` and how to leave one; best effort (True if the mail went out)."""
    from contextlib import nullcontext

    from bot.mail.smtp import Mailer
    from bot.review.mail import notice_message

    lines = []
    for name in lists:
        view = config.for_list(name)
        key = _secret_of(view)
        if key is not None:
            target = parseaddr(unsubscribe_address(view))[1]
            lines.append(f"  {name}: to {target}, subject: {unsubscribe_subject(view, key, address)}")
    # The subject lines come after the first paragraph: an auto-reply that quotes this mail back
    # unquoted must not carry one at its top, where the bot looks for a token.
    body = (f"digestbot got a request to unsubscribe {address}, but could not tell which of the\n"
            "lists this address is on it meant, so nothing was changed: you need not do anything\n"
            "to stay subscribed.\n\n"
            "To leave one list, send a mail with the subject line shown for it:\n\n" + "\n".join(lines) + "\n")
    msg = notice_message(config, to=address, subject="which list to leave?", body=body, date=now())
    try:
        with nullcontext(mailer) if mailer is not None else Mailer(config.smtp) as smtp:
            smtp.send_message(msg, [address])
    except DigestbotError as exc:
        log.warning("could not ask %s which list to leave: %s", address, exc)
        return False
    return True
