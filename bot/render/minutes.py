"""What minutes carry from one digest to the next, as the renderer shows it: tracked actions and coverage.

Used by bot/render/digest.py (the "Open actions" part, the coverage line) and
by the review mail and `digestbot review ID`, which state the same coverage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from bot.model import ActionNote, Digest, Item

_MONTHS = ("January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _clean(text: str) -> str:
    return " ".join(_UNSAFE.sub(" ", text).split())


def action_dict(note: ActionNote) -> dict[str, Any]:
    """{id, who, what, since, message_id} (and closed_by, for a closed one)."""
    return {"id": note.id, "who": _clean(note.who), "what": _clean(note.what), "since": note.since.date().isoformat(),
            "message_id": _clean(note.message_id), **({"closed_by": _clean(note.closed_by)} if note.closed_by else {})}


def coverage_dict(digest: Digest) -> dict[str, Any]:
    """How many messages the digest took, and where they went: the numbers add up to what arrived."""
    cov = digest.coverage
    assert cov is not None
    reasons: dict[str, int] = {}
    for _mid, why in cov.left_out:
        reasons[why] = reasons.get(why, 0) + 1
    return {"in_period": len(cov.in_period), "late": len(cov.late), "left_out": reasons}


def coverage_line(cov: Mapping[str, Any]) -> str:
    """"Coverage: 40 messages in the period, 2 late, 1 left out (1 unreadable); 41 in this digest." """
    in_period, late = int(cov.get("in_period", 0)), int(cov.get("late", 0))
    reasons: Mapping[str, int] = cov.get("left_out", {})
    left = sum(reasons.values())
    why = f" ({', '.join(f'{n} {reason}' for reason, n in reasons.items())})" if left else ""
    return (f"Coverage: {in_period} message{'s' * (in_period != 1)} in the period, {late} late, {left} left out"
            f"{why}; {in_period + late - left} in this digest.")


def action_line(text: str, action_id: int | None) -> str:
    """"Action #3: Dave Scott, add vchan support" (with the id once the draft is stored)."""
    text = text.removeprefix("Action:").removeprefix("action:").strip()
    return f"Action #{action_id}: {text}" if action_id is not None else f"Action: {text}"


def action_part(view: Mapping[str, Any], start: datetime) -> dict[str, list[str]]:
    """The "Open actions" part: open ones with their age, then those done since the last digest."""
    def line(note: Mapping[str, Any]) -> str:
        since = date.fromisoformat(note["since"])
        weeks = max(0, (start.date() - since).days // 7)
        return f"#{note['id']} {note['who']}: {note['what']} (open since {day_month(since)}, " \
               f"{weeks} week{'s' * (weeks != 1)})"

    done = [f"#{n['id']} {n['who']}: {n['what']}" + (f" (closed by {n['closed_by']})" if n.get("closed_by") else "")
            for n in view["closed_actions"]]
    return {"open": [line(n) for n in view["open_actions"]], "done": done}


def day_month(day: date) -> str:
    """"6 October"."""
    return f"{day.day} {_MONTHS[day.month - 1]}"


def started(item: Item) -> date:
    """The day the item's first thread began (its earliest message, context included)."""
    first = min(m.date for t in item.threads for m in t.mails)
    return first.date()
