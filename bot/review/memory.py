"""What a stored draft adds to the minutes' memory, and how actions are closed.

When a draft is stored (bot/review/lifecycle.py store_draft), in its transaction:
the messages it took (so no other digest takes them), an id for each action
it lists (the same id again when the week is redrafted), the closings its
mail's DONE: lines make, and which done actions it reports.

An action is closed by one of three: `digestbot actions done ID`, the chair's
`done ID` reply to a review mail, or a DONE: line from its owner on the list.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import datetime

from bot.errors import ReviewError
from bot.model import Digest, Item
from bot.store.coverage import TakenElsewhere
from bot.store.groups import Groups, Transaction
from bot.store.minutes import Taken, TrackedAction

log = logging.getLogger("digestbot.review")

# An action line of the editable Markdown: "- Action \#3: Dave Scott, add vchan support" (escaped by the renderer).
_EDITED = re.compile(r"^\s*[-*]?\s*Action \\?#(?P<id>\d{1,9}):\s*(?P<who>[^,\n]+?),\s*(?P<what>\S[^\n]*)$",
                     re.MULTILINE)
_MD_ESCAPE = re.compile(r"\\([\\`*_\[\]<>#|~&.+=-])")


def remember(tx: Transaction, digest: Digest, digest_id: int, stamp: datetime) -> Digest:
    """Store what draft `digest_id` took and did; the digest with its actions' ids."""
    start, end = digest.period_start, digest.period_end
    if digest.coverage is not None:
        late = set(digest.coverage.late)
        left = dict(digest.coverage.left_out)
        taken = [Taken(mid, mid in late, left.get(mid, ""))
                 for mid in dict.fromkeys([*digest.coverage.in_period, *digest.coverage.late])]
        try:
            tx.coverage.record(digest_id, taken, start, end)
        except TakenElsewhere as exc:  # another draft, built at the same time, stored them first
            raise ReviewError(f"draft not stored: {exc}; draft again") from None
    for closing in digest.closings:  # one closed before (a redraft of the same week) stays as it was
        tx.actions.close(closing.action_id, by=closing.by, via="mail", at=stamp, note="DONE: line on the list",
                         ref=closing.message_id)
    tx.actions.mark_reported([note.id for note in digest.closed_actions], digest_id, start, end)
    sections = tuple(replace(section, items=tuple(_with_ids(tx, item, digest_id, stamp) for item in section.items))
                     for section in digest.sections)
    return replace(digest, sections=sections)


def _with_ids(tx: Transaction, item: Item, digest_id: int, stamp: datetime) -> Item:
    if not item.actions:
        return item
    ids = []
    for line, source in zip(item.actions, item.action_sources, strict=False):
        who, _, what = line.removeprefix("Action:").strip().partition(", ")
        ids.append(tx.actions.propose(digest_id, who.strip(), (what or who).strip(), source, stamp))
    return replace(item, action_ids=tuple(ids))


def edit_actions(tx: Transaction, digest_id: int, markdown: str) -> list[int]:
    """The chair's edited draft changes its actions' owner or text: the ids it updated."""
    changed = []
    for match in _EDITED.finditer(markdown):
        who, what = (_MD_ESCAPE.sub(r"\1", match[name]).strip() for name in ("who", "what"))
        action = tx.actions.get(int(match["id"]))
        if action is None or (action.who, action.what) == (who, what):
            continue
        if tx.actions.edit(action.id, digest_id, who=who, what=what):
            changed.append(action.id)
    return changed


def close_action(groups: Groups, action_id: int, *, by: str, via: str, at: datetime, note: str = "",
                 ref: str = "") -> TrackedAction:
    """Close one open action; ReviewError (and nothing changed) if there is no such open action."""
    action = groups.actions.get(action_id)
    if action is None:
        raise ReviewError(f"no action #{action_id}")
    if action.state != "open":
        if ref and action_id in groups.actions.closed_by_ref(ref):
            return action  # the same reply polled twice
        raise ReviewError(f"action #{action_id} is already {action.state}")
    if not groups.actions.close(action_id, by=by, via=via, at=at, note=note, ref=ref):
        raise ReviewError(f"action #{action_id} changed meanwhile; look again")
    log.info("action #%d closed by %s (%s)", action_id, by, via)
    closed = groups.actions.get(action_id)
    assert closed is not None
    return closed
