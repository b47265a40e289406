"""What minutes remember from one digest to the next: late mail, and actions carried until done.

- The mail a draft covers: dated in its period, plus late mail (dated before it,
  in no digest; see bot/store/minutes.py), minus what another digest holds.
- Coverage: how many of those were in the period, late, or left out and why.
- Tracked actions: those still open from sent digests, and the `DONE:` lines of
  the week's mail that close one. Only the action's owner (or the chair) closes
  it; a line that names no open action, or comes from someone else, closes
  nothing and is reported to the chair.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from bot.model import ActionNote, Closing, Coverage, Item, Mail
from bot.pipeline.people import name_key
from bot.store.minutes import TrackedAction
from bot.store.sqlite_reader import MailReader

# Left out of every item, though taken (and counted): nothing of them can be read.
UNREADABLE = "unparsed"
_DONE = re.compile(r"^\s*(?:[-*•]\s*)?DONE\s*:\s*(?P<what>\S.*)$", re.MULTILINE)
_BY_ID = re.compile(r"^#?(?P<id>\d{1,9})\b[\s.,:;-]*")
_WORD = re.compile(r"[a-z0-9][a-z0-9'-]{2,}")
_STOP = frozenset({"the", "and", "for", "with", "that", "this", "from", "have", "has", "will", "into", "when",
                   "ready", "done", "was", "are", "our", "its"})


def mails_to_cover(reader: MailReader, start: datetime, end: datetime) -> tuple[list[Mail], list[Mail]]:
    """(dated in the period, late): what a draft of [start, end) takes, each message once."""
    elsewhere = reader.taken_elsewhere(start, end)
    in_period = [m for m in reader.mails_between(start, end) if m.message_id not in elsewhere]
    return in_period, reader.late_mails(start, end)


def is_readable(mail: Mail) -> bool:
    return UNREADABLE not in mail.flags


def without_done(text: str) -> str:
    """`text` without its DONE: lines: they close actions, and are listed as such, not summarized."""
    return _DONE.sub("", text).strip() if "DONE" in text else text


def mark_late(items: Sequence[Item], late: frozenset[str]) -> list[Item]:
    return [replace(item, late=True) if late.intersection(item.message_ids) else item for item in items]


def coverage(in_period: Sequence[Mail], late: Sequence[Mail], items: Sequence[Item]) -> Coverage:
    """Which messages went where; every taken message is in an item or left out with a reason."""
    shown = {mid for item in items for mid in item.message_ids}
    left_out = tuple((m.message_id, "unreadable" if not is_readable(m) else "duplicate")
                     for m in [*in_period, *late] if m.message_id not in shown)
    return Coverage(tuple(m.message_id for m in in_period), tuple(m.message_id for m in late), left_out)


def coverage_line(cov: Mapping[str, object]) -> str:
    """"Coverage: 40 messages in the period, 2 late, 1 left out (1 unreadable); 41 in this digest." """
    in_period, late = int(str(cov.get("in_period", 0))), int(str(cov.get("late", 0)))
    reasons = cov.get("left_out", {})
    assert isinstance(reasons, Mapping)
    left = sum(int(n) for n in reasons.values())
    why = f" ({', '.join(f'{n} {reason}' for reason, n in reasons.items())})" if left else ""
    return (f"Coverage: {in_period} message{'s' * (in_period != 1)} in the period, {late} late, {left} left out"
            f"{why}; {in_period + late - left} in this digest.")


def done_lines(mails: Sequence[Mail], carried: Sequence[TrackedAction],
               chair: str) -> tuple[list[Closing], list[str]]:
    """The closings the mails' `DONE:` lines make, and the lines that close nothing (with why).

    Read from each message's own lines (quoted ones left out), not its cleaned text: cleaning joins
    the lines of a paragraph and drops a short last one, where a DONE: line usually is.
    A line whose action this same message already closed (a redraft of its week) is applied, not refused.
    """
    open_ = {a.id: a for a in carried if a.state == "open"}
    closings: list[Closing] = []
    refused: list[str] = []
    for mail in sorted(mails, key=lambda m: (m.date, m.message_id)):
        applied = [a for a in carried if a.state != "open" and a.closed_ref == mail.message_id]
        for match in _DONE.finditer(unquoted(mail.body)):
            said = match["what"].strip()
            if _named(said, applied) is not None:
                continue
            action = _named(said, [a for a in open_.values() if a.id not in {c.action_id for c in closings}])
            where = f"{mail.author} <{mail.from_addr}> in {mail.message_id}"
            if action is None:
                refused.append(f"\"DONE: {said[:120]}\" from {where} names no open action; nothing closed")
            elif not _may_close(mail.author, action.who, chair):
                refused.append(f"\"DONE: {said[:120]}\" from {where} names #{action.id}, owned by {action.who}; "
                               "only the owner or the chair closes it; not closed")
            else:
                closings.append(Closing(action.id, mail.message_id, mail.author))
    return closings, refused


def unquoted(body: str) -> str:
    """`body` without its quoted (`>`) lines: a DONE: line quoted from another message is not this one's."""
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith(">"))


def _named(said: str, candidates: Sequence[TrackedAction]) -> TrackedAction | None:
    """The action a DONE line names: by its id ("#3", "3"), else by most words of its text."""
    by_id = _BY_ID.match(said)
    if by_id:
        wanted = int(by_id["id"])
        return next((a for a in candidates if a.id == wanted), None)
    words = _words(said)
    best, score = None, 0.0
    for action in candidates:
        theirs = _words(action.what)
        common = len(words & theirs)
        # Most of the action's words, and at least two (one shared word names nothing).
        fraction = common / len(theirs) if theirs else 0.0
        if common >= min(2, len(theirs)) and fraction >= 0.5 and fraction > score:
            best, score = action, fraction
    return best


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _may_close(author: str, owner: str, chair: str) -> bool:
    if owner.lower() == "everyone" or (chair and name_key(author) == name_key(chair)):
        return True
    mine, theirs = set(name_key(author).split()), set(name_key(owner).split())
    # "Dave" owns what "Dave Scott" writes, and "Dave Scott" what "Dave" does.
    return bool(mine and theirs) and (mine <= theirs or theirs <= mine)


def action_notes(carried: Sequence[TrackedAction],
                 closings: Sequence[Closing]) -> tuple[tuple[ActionNote, ...], tuple[ActionNote, ...]]:
    """(still open, done since the last digest) as the new digest lists them."""
    closed_now = {c.action_id: c.by for c in closings}
    open_, done = [], []
    for action in carried:
        note = ActionNote(action.id, action.who, action.what, action.since, action.message_id)
        if action.state == "open" and action.id not in closed_now:
            open_.append(note)
        else:
            done.append(replace(note, closed_by=closed_now.get(action.id) or action.closed_by or ""))
    return tuple(open_), tuple(done)
