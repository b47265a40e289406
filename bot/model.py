"""The records that flow between pipeline stages.

Each stage takes the records of the stage before it and returns new ones;
nothing here does I/O, so every stage can be tested on hand-made values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

AOB = "aob"  # the key of "Any other business": the section of what no other matched, always last


@dataclass(frozen=True, slots=True)
class RawMail:
    """One message as a source delivered it: bytes plus where it came from."""

    raw: bytes
    origin: str  # e.g. "mbox:/path#12", "maildir:/path/cur/x", "imap:INBOX/4711"


@dataclass(frozen=True, slots=True)
class Mail:
    """A parsed message: the fields the pipeline needs, and nothing else."""

    message_id: str
    subject: str
    from_name: str
    from_addr: str
    date: datetime  # always timezone-aware
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    body: str = ""  # text body as written (quotes and all), for display
    attachments: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()  # e.g. {"no-date", "unparsable"}
    # The header's Message-ID when `message_id` is not it: the store keys a second message with the same
    # Message-ID but other content by a derived key (bot/store/identity.py); threading follows this one.
    header_id: str = ""

    @property
    def thread_id(self) -> str:
        """The Message-ID other mail names this one by (In-Reply-To, References)."""
        return self.header_id or self.message_id

    @property
    def author(self) -> str:
        """The name a person would use for the sender."""
        return self.from_name or self.from_addr.split("@")[0] or "unknown"


@dataclass(frozen=True, slots=True)
class Thread:
    """A conversation: messages in date order, oldest first."""

    root_id: str
    subject: str
    mails: tuple[Mail, ...]
    # Message-IDs of mails before the period: context, not summarized.
    context_ids: frozenset[str] = frozenset()

    @property
    def new_mails(self) -> tuple[Mail, ...]:
        return tuple(m for m in self.mails if m.message_id not in self.context_ids)

    @property
    def participants(self) -> tuple[str, ...]:
        """Distinct authors of the new mails, in order of first appearance."""
        seen: dict[str, None] = {}
        for mail in self.new_mails:
            seen.setdefault(mail.author, None)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class SummarySentence:
    text: str
    message_id: str  # the message it comes from; for a model-written point, the first it cites
    author: str  # for a model-written point, the cited messages' authors, "A and B"
    cites: tuple[str, ...] = ()  # a model-written point: every message it cites (checked against them)
    point: str = ""  # in a big thread's summary: the message its sub-discussion starts at (bot/pipeline/points.py)


@dataclass(frozen=True, slots=True)
class Item:
    """One agenda item: one or more threads on the same topic."""

    title: str
    threads: tuple[Thread, ...]
    summary: tuple[SummarySentence, ...] = ()
    url: str = ""
    actions: tuple[str, ...] = ()  # "Action: who, what"
    note: str = ""  # one-line description, e.g. for a patch series
    continued: bool = False  # the topic was already in the previous digest
    # Who took part, when the mails' senders are not it: a pull request's mails all come from a bot.
    people: tuple[str, ...] | None = None
    summary_by: str = ""  # the extractive strategy, or "llm:<model>" when a model wrote the summary
    late: bool = False  # it holds mail dated before the period that arrived after that week was drafted
    action_sources: tuple[str, ...] = ()  # the Message-ID each of `actions` was lifted from
    action_ids: tuple[int, ...] = ()  # each of `actions`' tracked id, once the draft is stored

    @property
    def message_ids(self) -> tuple[str, ...]:
        return tuple(m.message_id for t in self.threads for m in t.new_mails)

    @property
    def participants(self) -> tuple[str, ...]:
        if self.people is not None:
            return self.people
        seen: dict[str, None] = {}
        for thread in self.threads:
            for name in thread.participants:
                seen.setdefault(name, None)
        return tuple(seen)

    @property
    def message_count(self) -> int:
        return sum(len(t.new_mails) for t in self.threads)


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    title: str
    list_name: str
    period_start: datetime
    period_end: datetime
    chair: str
    attendees: tuple[str, ...]  # chair first when the chair took part
    sections: tuple[Section, ...]
    stats: dict[str, int] = field(default_factory=dict)
    next_call: datetime | None = None
    model_report: ModelReport | None = None  # only with `strategy = "llm"`
    coverage: Coverage | None = None  # which messages it took; None for a digest not drafted from a store
    open_actions: tuple[ActionNote, ...] = ()  # still open from earlier sent digests
    closed_actions: tuple[ActionNote, ...] = ()  # done since the last digest
    closings: tuple[Closing, ...] = ()  # DONE: lines of its mail that close an action (stored with the draft)
    refused: tuple[str, ...] = ()  # DONE: lines that closed nothing, and why: for the chair

    @property
    def agenda(self) -> tuple[str, ...]:
        return tuple(item.title for s in self.sections for item in s.items)


@dataclass(frozen=True, slots=True)
class ModelReport:
    """How a model's summaries went: for the chair's review mail, the draft's warning and its JSON."""

    model: str
    items_written: int  # items whose summary the model wrote (every point checked)
    points_kept: int
    dropped: tuple[tuple[str, int], ...] = ()  # (why the checks dropped points, how many)
    fallbacks: tuple[tuple[str, str], ...] = ()  # (item title, why it kept its extractive summary)


@dataclass(frozen=True, slots=True)
class Coverage:
    """The messages a digest took: dated in its period, or late; and those it left out, with why."""

    in_period: tuple[str, ...]
    late: tuple[str, ...]
    left_out: tuple[tuple[str, str], ...] = ()  # (Message-ID, why)

    @property
    def total(self) -> int:
        return len(self.in_period) + len(self.late)


@dataclass(frozen=True, slots=True)
class ActionNote:
    """A tracked action as a digest lists it."""

    id: int
    who: str
    what: str
    since: datetime  # the start of the period of the digest it first appeared in
    message_id: str
    closed_by: str = ""  # for a closed one: who closed it


@dataclass(frozen=True, slots=True)
class Closing:
    """A DONE: line that closes tracked action `action_id`."""

    action_id: int
    message_id: str
    by: str
