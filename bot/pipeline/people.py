"""One person, one name: who wrote, however their mail client spelled them.

A person writes as "Sinyuk, Konstantin" from the office and "Konstantin Sinyuk"
from home, or as "Hervé BOUTEMY" and "Hervé Boutemy": the minutes must list
them once.  A person is identified by address first, then by name (case, accents
and "Last, First" order aside), and shown under one display name.

An address that several unrelated names write from is not a person: a list that
rewrites From for DMARC, or a bot that relays everyone's pull-request comments.
Such an address identifies no one, and only the names count.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace

from bot.model import Mail

_SEPARATOR = re.compile(r"[\s,.]+")
_NAMELESS = "\0"  # marks an address key, which no name written in a header can equal


def name_key(name: str) -> str:
    """The words of a name, in a fixed order, without case or accents: "Sinyuk, Konstantin" = "konstantin sinyuk"."""
    plain = unicodedata.normalize("NFKD", name.strip().strip("'\"")).encode("ascii", "ignore").decode()
    return " ".join(sorted(w for w in _SEPARATOR.split(plain.casefold()) if w))


def display_names(mails: Iterable[Mail]) -> dict[str, str]:
    """Each sender name as written -> the one name its person is shown by (only names that change).

    A mail without a name is keyed by its address, marked: see `with_display_names`.
    """
    mails = list(mails)
    names_at: dict[str, set[str]] = {}  # address -> name keys written from it
    for mail in mails:
        if mail.from_name and mail.from_addr:
            names_at.setdefault(mail.from_addr.lower(), set()).add(name_key(mail.from_name))
    personal = {addr for addr, keys in names_at.items() if _one_person(keys)}

    parent: dict[str, str] = {}

    def find(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for mail in mails:
        if not mail.from_name:
            continue
        name_node = "n:" + name_key(mail.from_name)
        find(name_node)
        if mail.from_addr.lower() in personal:
            parent[find(name_node)] = find("a:" + mail.from_addr.lower())

    written: dict[str, Counter[str]] = {}  # person -> the names they wrote as, and how often
    for mail in mails:
        if mail.from_name:
            written.setdefault(find("n:" + name_key(mail.from_name)), Counter())[mail.from_name] += 1
    chosen: dict[str, str] = {}
    shown: dict[str, str] = {}  # person -> display name
    for person, forms in written.items():
        shown[person] = best = max(forms, key=lambda form: _preference(form, forms[form]))
        chosen.update({form: best for form in forms if form != best})
    for address in personal:  # a mail with a bare address, from someone who signs other mail by name
        if (person := find("a:" + address)) in shown:
            chosen[_NAMELESS + address] = shown[person]
    return chosen


def with_display_names(mails: Sequence[Mail], names: dict[str, str]) -> list[Mail]:
    """The mails, each sender under their display name."""
    if not names:
        return list(mails)
    return [replace(m, from_name=names[key]) if (key := _key(m)) in names else m for m in mails]


def _key(mail: Mail) -> str:
    return mail.from_name or _NAMELESS + mail.from_addr.lower()


def _one_person(keys: set[str]) -> bool:
    """Names written from one address are one person's when they share a word (a surname, usually)."""
    words = [set(key.split()) for key in keys]
    return len(words) == 1 or bool(set.intersection(*words))


def _preference(form: str, count: int) -> tuple[bool, bool, int, str]:
    """"First Last" before "Last, First", "Boutemy" before "BOUTEMY", then the form written most often."""
    words = form.replace(",", " ").split()
    shouted = any(len(w) > 2 and w.isupper() for w in words)
    return ("," not in form, not shouted, count, form)
