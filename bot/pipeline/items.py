"""What goes under an agenda item besides its summary: actions, votes, word budget.

Minutes list action items as "Action: who, what", count "+1"s as support
rather than quoting them, and give a busy topic more room than a quiet one.
Everything here reads the cleaned text (`bot.pipeline.clean`), so quotes and
signatures never count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.model import Item, Mail
from bot.pipeline.clean import CleanBody
from bot.pipeline.summarize.tokenize import get_tokenizer

MIN_SCALE, MAX_SCALE = 0.5, 3.0  # of the configured summary_words
DIGEST_SCALE = 15.0  # every item's summary together, in summary_words: a long week is shrunk to fit
PER_PERSON, PER_MESSAGE = 0.25, 0.05

_MARKER = re.compile(r"\b(?:ACTION|Action|TODO)(?: [Ii]tems?)?\s*:\s*")
_HEADING = re.compile(r"(?:ACTION|Action|TODO)(?: [Ii]tems?)?\s*:\s*$")
_OWNER = re.compile(
    r"(?P<who>I|[Ww]e|[Ee]veryone(?: else)?|[Aa]ll|(?:[A-Z][\w'-]+)(?: [A-Z][\w'-]+)?)"
    r"(?:\s*(?:[:,\-–]|\bto\b|\bwill\b|'ll\b|\bshould\b|\bmust\b))\s*(?P<what>\S.*)"
)
_VOTE = re.compile(r"^\s*(?P<sign>[+-])1(?!\d)")
MAX_LISTED = 4  # bullets after an "Action items:" heading that are read as actions


@dataclass(frozen=True, slots=True)
class Actions:
    """A message's text with its action items taken out."""

    text: str
    items: tuple[str, ...]  # "who, what"


def item_budget(words: int, item: Item) -> int:
    """Summary words for an item: more for a busy topic, less for a quiet one, within bounds."""
    people = len(item.participants)
    scale = 0.25 + PER_PERSON * people + PER_MESSAGE * item.message_count
    return round(words * min(MAX_SCALE, max(MIN_SCALE, scale)))


def digest_shrink(words: int, items: Sequence[Item]) -> float:
    """What every item's budget is multiplied by so that all summaries fit DIGEST_SCALE times *words*.

    A week of many busy threads keeps their proportions, but reads in minutes.
    """
    total = sum(item_budget(words, item) for item in items if not item.note)
    return min(1.0, DIGEST_SCALE * words / total) if total else 1.0


def take_actions(text: str, author: str, participants: Sequence[str]) -> Actions:
    """Lift "ACTION: ..." sentences out of *text* as "who, what" lines; the rest stays."""
    kept: list[str] = []
    found: list[str] = []
    listed = 0  # bullets still to read after an "Action items:" heading
    for paragraph in text.split("\n\n"):
        if listed and len(paragraph.split()) <= 40:
            found.append(_who_what(paragraph, author, participants))
            listed -= 1
            continue
        listed = MAX_LISTED if _HEADING.search(paragraph) else 0
        paragraph = _HEADING.sub("", paragraph).strip()
        rest, actions = _split_paragraph(paragraph)
        found += [_who_what(a, author, participants) for a in actions]
        if rest:
            kept.append(rest)
    return Actions("\n\n".join(kept), tuple(dict.fromkeys(found)))


def _split_paragraph(paragraph: str) -> tuple[str, list[str]]:
    """The paragraph without its action sentences, and those sentences (marker removed)."""
    pieces = _MARKER.split(paragraph)
    if len(pieces) == 1:
        return paragraph, []
    rest = [pieces[0].strip()]
    actions = []
    for piece in pieces[1:]:
        sentences = get_tokenizer().to_sentences(piece)  # the action is its whole sentence, not a line
        actions.append(sentences[0].rstrip(".") if sentences else "")
        rest.extend(sentences[1:])
    return " ".join(p for p in rest if p), [a for a in actions if a]


def _who_what(action: str, author: str, participants: Sequence[str]) -> str:
    """"Rohan to draft X" -> "Rohan Mehta, draft X"; "I will do X" -> "<author>, do X"."""
    action = action.strip().lstrip("-*• ").rstrip(".")
    match = _OWNER.match(action)
    if match is None:
        return f"{author}, {action}"
    who, what = match["who"], match["what"]
    if who == "I":
        return f"{author}, {what}"
    if who.lower() in ("we", "all", "everyone", "everyone else"):
        return f"Everyone, {what}"
    full = [p for p in participants if p == who or p.split()[0] == who]
    return f"{full[0] if len(full) == 1 else who}, {what}"


def without_vote(text: str) -> str:
    """*text* without an opening "+1, and thanks ..." sentence: the vote is shown as support instead."""
    if not _VOTE.match(text):
        return text
    first, _, rest = text.partition("\n\n")
    sentences = get_tokenizer().to_sentences(first)
    return "\n\n".join(p for p in (" ".join(sentences[1:]), rest) if p)


def as_sentence(text: str) -> str:
    """A list item ("ARM profiling results") ends with a full stop, so sentences do not run together."""
    return text + "." if text[-1:].isalnum() or text[-1:] in ")\"'’”" else text


def votes(mails: Sequence[Mail], cleaned: Mapping[str, CleanBody]) -> str:
    """"Support: +1 from A and B." ("Votes: ..." with a -1) from the messages that open with a vote.

    Each person counts once, with their last vote; "LGTM" and the like count as +1.
    """
    sign: dict[str, str] = {}
    for mail in mails:
        if vote := cleaned[mail.message_id].vote:
            sign[mail.author] = vote
    parts = [f"{s}1 from {_names([a for a, v in sign.items() if v == s])}" for s in "+-" if s in sign.values()]
    if not parts:
        return ""
    return ("Votes: " if "-" in sign.values() else "Support: ") + "; ".join(parts) + "."


def _names(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
