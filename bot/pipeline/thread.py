"""Group mails into conversations, after JWZ (https://www.jwz.org/doc/threading.html).

The digest only needs to know which mails belong together, not the reply
tree, so this keeps JWZ's linking rules but not its tree surgery:

1. Containers and links (JWZ step 1): every id, seen or only referenced, gets
   a container. A mail's own last reference (or In-Reply-To) is its parent;
   the References chain of other mails links containers that have no parent
   yet, first come first served. Mails are handled in date order, so the
   result does not depend on input order.
2. Conversations (JWZ steps 2-4): the parent links form a graph in which each
   container has at most one parent. Its connected parts are the threads. A
   reference loop just makes a part without a top, so loops need no
   breaking, and a missing (empty) container keeps its children together, as
   JWZ does for an empty root with several children.
3. Subjects (JWZ step 5): a thread whose top mail is a reply ("Re: X") but
   could not be linked by headers joins the thread about "X".

Everything is iterative and linear-ish: 10,000-deep chains and 100,000
mails are ordinary input.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.model import Mail, Thread
from bot.pipeline.subject import clean_title, is_reply, normalize_subject


@dataclass(slots=True)
class _Part:
    """A connected part of the container graph: one thread in the making."""

    mails: list[Mail]
    top: Mail  # the mail at the top of the tree: its subject names the thread

    @property
    def start(self) -> Mail:
        return min(self.mails, key=_order)


def _order(mail: Mail) -> tuple[datetime, str]:
    return (mail.date, mail.message_id)


def _dedupe(mails: Iterable[Mail]) -> list[Mail]:
    """Keep the first mail of each Message-ID, in (date, id) order."""
    seen: dict[str, Mail] = {}
    for mail in mails:
        seen.setdefault(mail.message_id, mail)
    return sorted(seen.values(), key=_order)


def _chain(mail: Mail) -> list[str]:
    """The ancestors a mail names, oldest first, without itself or blanks."""
    own = (mail.message_id, mail.thread_id)
    chain = [ref for ref in mail.references if ref and ref not in own]
    # References is authoritative; In-Reply-To fills in when a client
    # dropped or truncated References (it names the direct parent).
    irt = mail.in_reply_to
    if irt and irt not in own and irt not in chain:
        chain.append(irt)
    return chain


def _link(mails: list[Mail]) -> dict[str, str]:
    """Parent of each container: JWZ step 1."""
    parent: dict[str, str] = {}
    chains = [_chain(mail) for mail in mails]
    # A mail's own headers come first: they are the best evidence there is.
    for mail, chain in zip(mails, chains, strict=True):
        if chain:
            parent[mail.message_id] = chain[-1]
        elif mail.thread_id != mail.message_id:
            # Stored under a derived key (its Message-ID was taken): one Message-ID is one container, so it
            # joins the thread of the mail that has it, as public-inbox threads them.
            parent[mail.message_id] = mail.thread_id
    # Then other mails' References vouch for containers still without a
    # parent: missing mails, and mails whose client dropped the headers.
    for chain in chains:
        for older, newer in itertools.pairwise(chain):
            if newer != older:
                parent.setdefault(newer, older)
    return parent


def _find_tops(mails: list[Mail], parent: dict[str, str]) -> dict[str, str]:
    """Map each mail's id to the top container of its part.

    Walks up parent links without recursion, labelling the whole path at
    once, so each container is walked once. In a part with a loop the
    container where the walk first closed the loop is its top.
    """
    top: dict[str, str] = {}
    for mail in mails:
        path: dict[str, None] = {}  # insertion-ordered set: the current walk
        node = mail.message_id
        while node not in top and node not in path:
            path[node] = None
            up = parent.get(node)
            if up is None:
                break
            node = up
        label = top.get(node, node)
        for seen in path:
            top[seen] = label
    return top


def _parts(mails: list[Mail], parent: dict[str, str]) -> list[_Part]:
    tops = _find_tops(mails, parent)
    by_id = {mail.message_id: mail for mail in mails}
    members: dict[str, list[Mail]] = {}
    for mail in mails:
        members.setdefault(tops[mail.message_id], []).append(mail)
    parts = []
    for label, group in members.items():
        top = by_id.get(label)
        # An empty top (missing mail) or a loop: the earliest mail speaks
        # for the thread, as JWZ takes an empty root's first child.
        if top is None or label in parent:
            top = group[0]
        parts.append(_Part(group, top))
    return parts


def _join_by_subject(parts: list[_Part]) -> list[_Part]:
    """JWZ step 5: a "Re: X" thread that headers could not place joins "X".

    Only reply/forward threads move, and only to a thread with the same
    normalized subject. Two non-reply threads never merge: "Weekly status"
    or "Question" from two posters are two conversations.
    """
    groups: dict[str, list[_Part]] = {}
    for part in parts:
        key = normalize_subject(part.top.subject)
        if key:
            groups.setdefault(key, []).append(part)
    moved: set[int] = set()
    for group in groups.values():
        for part, target in _targets(group):
            target.mails.extend(part.mails)
            moved.add(id(part))
    return [part for part in parts if id(part) not in moved]


def _targets(group: list[_Part]) -> list[tuple[_Part, _Part]]:
    """Pairs (reply thread, thread it joins) within one subject group."""
    group.sort(key=lambda part: _order(part.start))
    originals = [part for part in group if not is_reply(part.top.subject)]
    replies = [part for part in group if is_reply(part.top.subject)]
    if not originals:
        # Only replies: the original is missing; keep them together anyway.
        return [(part, replies[0]) for part in replies[1:]]
    starts = [_order(part.start) for part in originals]
    pairs = []
    for part in replies:
        # The latest original before the reply: a reply to this week's
        # "Weekly status" belongs to this week's. Clock skew: the earliest.
        at = bisect.bisect_right(starts, _order(part.start)) - 1
        pairs.append((part, originals[max(at, 0)]))
    return pairs


def _to_thread(part: _Part, context_ids: frozenset[str]) -> Thread:
    mails = tuple(sorted(part.mails, key=_order))
    return Thread(
        root_id=mails[0].message_id,
        subject=clean_title(part.top.subject),
        mails=mails,
        context_ids=frozenset(m.message_id for m in mails) & context_ids,
    )


def build_threads(mails: Iterable[Mail], context_ids: frozenset[str] = frozenset()) -> list[Thread]:
    """Group mails into threads, oldest thread first.

    Every mail (the first of each Message-ID) lands in exactly one thread.
    `context_ids` marks mails from before the period, kept as context.
    """
    unique = _dedupe(mails)
    parts = _join_by_subject(_parts(unique, _link(unique)))
    threads = [_to_thread(part, context_ids) for part in parts]
    threads.sort(key=lambda thread: _order(thread.mails[0]))
    return threads
