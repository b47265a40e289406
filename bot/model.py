"""The records that flow between pipeline stages.

Each stage takes the records of the stage before it and returns new ones;
nothing here does I/O, so every stage can be tested on hand-made values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
    message_id: str
    author: str


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

    @property
    def agenda(self) -> tuple[str, ...]:
        return tuple(item.title for s in self.sections for item in s.items)
