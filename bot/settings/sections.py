"""The configuration's schema: one frozen dataclass per TOML section.

Their fields are the keys, their type hints the types (bot/settings/checks.py
converts and checks a file against them). Settings is immutable and passed down.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, overload

from bot.errors import ConfigError

TlsMode = Literal["ssl", "starttls", "none"]
Extractive = Literal["lexrank", "textrank", "lsa", "luhn", "lead"]
SINGLE_LIST_KEY = "list"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class Secret:
    """Where a password comes from; the value itself is read only when used."""

    env: str | None = None
    file: str | None = None

    def reveal(self, what: str) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"{what}: environment variable {self.env} is not set")
            return value
        if self.file:
            try:
                return Path(self.file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{what}: cannot read password file {self.file}: {exc.strerror}") from None
        raise ConfigError(f"{what}: no password_env or password_file configured")

    @property
    def configured(self) -> bool:
        return bool(self.env or self.file)


@dataclass(frozen=True, slots=True)
class ListSettings:
    name: str = "list"
    address: str = ""
    archive_url: str = ""  # e.g. "https://lore.example.org/list/{message_id}/"
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    path: str = "digestbot.sqlite3"  # relative to the config file
    url: str = ""  # a full SQLAlchemy URL wins over path


@dataclass(frozen=True, slots=True)
class SectionRule:
    key: str
    title: str = ""
    enabled: bool = True
    subject: tuple[str, ...] = ()  # regular expressions, case-insensitive
    body: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # list tags such as "ann", "patch"


@dataclass(frozen=True, slots=True)
class DigestSettings:
    title: str = "Weekly Meeting: {date}"
    chair: str = ""
    chair_address: str = ""
    summary_words: int = 120
    strategy: Literal["lexrank", "textrank", "lsa", "luhn", "lead", "llm"] = "lexrank"  # "llm": see [llm]
    week_starts: Literal["monday", "sunday"] = "monday"
    call_weekday: str = ""  # e.g. "tuesday": the closing line names the next call
    call_time: str = "15:00"
    call_every_weeks: int = 1
    min_messages: int = 0  # fewer in the period: skip the week, tell the chair
    sections: tuple[SectionRule, ...] = ()
    section_order: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LlmSettings:
    """An OpenAI-compatible endpoint that writes summaries with `[digest] strategy = "llm"` (summarize/llm/)."""

    base_url: str = ""  # e.g. "http://127.0.0.1:11434/v1" (Ollama)
    model: str = ""
    api_key_env: str = ""  # optional: local servers need no key
    api_key_file: str = ""
    timeout_seconds: float = 120.0
    max_concurrency: int = 2
    max_input_tokens: int = 6000  # per request; longer threads are chunked and folded
    retries: int = 3  # after a timeout, a 429 or a 5xx
    min_points: int = 1  # fewer verified points: the item keeps its extractive summary
    fallback: Extractive = "lexrank"  # the extractive strategy items fall back to

    @property
    def api_key(self) -> Secret:
        return Secret(self.api_key_env or None, self.api_key_file or None)

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)


@dataclass(frozen=True, slots=True)
class ImapSettings:
    host: str = ""
    port: int = 0  # 0: 993 for ssl, 143 otherwise
    tls: TlsMode = "ssl"
    ca_file: str = ""
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    folders: tuple[str, ...] = ("INBOX",)
    archive_folders: tuple[str, ...] = ()
    batch_size: int = 200
    timeout: float = 30.0
    idle_seconds: int = 600

    @property
    def password(self) -> Secret:
        return Secret(self.password_env or None, self.password_file or None)

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "ssl" else 143)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str = ""
    port: int = 0  # 0: 465 for ssl, 587 for starttls, 25 for none
    tls: TlsMode = "starttls"
    ca_file: str = ""
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    from_address: str = ""
    mode: Literal["list", "roster"] = "list"
    unsubscribe_address: str = ""
    timeout: float = 30.0

    @property
    def password(self) -> Secret:
        return Secret(self.password_env or None, self.password_file or None)

    @property
    def effective_port(self) -> int:
        return self.port or {"ssl": 465, "starttls": 587, "none": 25}[self.tls]


@dataclass(frozen=True, slots=True)
class ReviewSettings:
    chair_addresses: tuple[str, ...] = ()
    secret_env: str = ""  # HMAC key for approval tokens
    secret_file: str = ""
    require_dkim: bool = False
    drafts_folder: str = ""  # also APPEND drafts here over IMAP when set
    send_deadline_hours: int = 48  # after drafting; one reminder when passed

    @property
    def secret(self) -> Secret:
        return Secret(self.secret_env or None, self.secret_file or None)


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    timezone: str = "UTC"
    poll_minutes: int = 15
    draft_cron: str = "0 8 * * tue"
    remind_cron: str = "0 9 * * *"
    send_cron: str = "*/30 * * * *"
    misfire_grace_seconds: int = 3600
    log_file: str = ""
    # "procrastinate": instances sharing one PostgreSQL store split the jobs (bot/schedule/cluster.py)
    engine: Literal["apscheduler", "procrastinate"] = "apscheduler"
    worker_timeout_seconds: int = 60  # procrastinate: an instance silent this long is dead; its jobs move on


@dataclass(frozen=True, slots=True)
class LimitSettings:
    max_message_bytes: int = 25 * 1024 * 1024
    max_parts: int = 1000
    max_header_bytes: int = 256 * 1024
    max_references: int = 1000
    max_subject_chars: int = 2000


@dataclass(frozen=True, slots=True)
class PublishSettings:
    """The public archive of sent digests (bot/publish): where it is written, and where it is served."""

    dir: str = ""  # relative to the config file; empty: `digestbot publish --output DIR` only
    base_url: str = ""  # e.g. "https://example.org/minutes/"; set: links in the feed and the mail are absolute
    title: str = ""  # of the index page and the feed; empty: "<list name> minutes"


@dataclass(frozen=True, slots=True)
class Settings:
    config_path: str = ""
    list: ListSettings = field(default_factory=ListSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    source: ImapSettings = field(default_factory=ImapSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    # The [[lists]] entries, each a whole single-list view (its own entries empty); () for a [list] config.
    entries: ListViews | tuple[()] = ()
    # Whose rows in the store are this list's: an entry's name; "" for a [list] config (see store_list).
    list_key: str = ""

    @property
    def store_list(self) -> str:
        """The list's key in the store. A single [list] config's rows are under SINGLE_LIST_KEY, whatever
        its name, so renaming the list keeps its history (bot/store/schema.py: DEFAULT_LIST is the same)."""
        return self.list_key or SINGLE_LIST_KEY

    @property
    def lists(self) -> Sequence[Settings]:
        """One single-list view per list: the [[lists]] entries, or this config itself when it has one [list]."""
        return self.entries or (self,)

    @property
    def list_names(self) -> tuple[str, ...]:
        return self.entries.names if self.entries else (self.list.name,)

    def for_list(self, name: str | None) -> Settings:
        """The single-list view of list `name` (None: the only list); a ConfigError naming the lists otherwise."""
        views = self.lists
        if name is None:
            if len(views) == 1:
                return views[0]
            raise ConfigError(f"{self.config_path}: this config has {len(views)} lists: choose one with --list NAME "
                              f"({', '.join(self.list_names)})")
        if not self.entries:
            if views[0].list.name == name:
                return views[0]
        elif (view := self.entries.named(name)) is not None:
            return view
        raise ConfigError(f"{self.config_path}: no list named {name!r} (lists: {', '.join(self.list_names)})")

    @property
    def all_folders(self) -> tuple[str, ...]:
        """Every IMAP folder of every list, each once, in config order."""
        return tuple(dict.fromkeys(folder for view in self.lists for folder in view.source.folders))

    def lists_of_folder(self) -> dict[str, tuple[str, ...]]:
        """Folder -> the store keys of the lists it feeds (a folder may feed several)."""
        found: dict[str, list[str]] = {}
        for view in self.lists:
            for folder in (*view.source.folders, *view.source.archive_folders):
                found.setdefault(folder, []).append(view.store_list)
        return {folder: tuple(dict.fromkeys(names)) for folder, names in found.items()}

    @property
    def store_url(self) -> str:
        if self.store.url:
            return self.store.url
        if self.store.path == ":memory:":
            return "sqlite://"
        path = Path(self.store.path)
        if not path.is_absolute() and self.config_path:
            path = Path(self.config_path).parent / path
        return f"sqlite:///{path}"


class ListViews(Sequence[Settings]):
    """A config's [[lists]] entries as single-list views, each made when asked for.

    A made view is about 850 bytes (its own copies of the sections it changes); the drafting
    pass over 10,000 lists carried all of them, 8.5 MB, from start to end (`make bench`, row 8).
    An entry is kept as its made view only where it overrides sections (few do); else as the
    small record `make` turns into the view, against the file's own sections in `base`.
    """

    __slots__ = ("_base", "_index", "_make", "_records", "names")

    def __init__(self, base: Settings, names: tuple[str, ...], records: tuple[Any, ...],
                 make: Callable[[Settings, Any], Settings]) -> None:
        self._base, self._records, self._make, self.names = base, records, make, names
        self._index = {name: index for index, name in enumerate(names)}

    def has(self, name: str) -> bool:
        return name in self._index

    def overriding(self) -> Iterator[Settings]:
        """The views of the entries that override sections (held whole: only these can differ elsewhere)."""
        return (record for record in self._records if isinstance(record, Settings))

    def named(self, name: str) -> Settings | None:
        index = self._index.get(name)
        return None if index is None else self[index]

    @overload
    def __getitem__(self, index: int) -> Settings: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Settings]: ...

    def __getitem__(self, index: int | slice) -> Settings | Sequence[Settings]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        record = self._records[index]
        return record if isinstance(record, Settings) else self._make(self._base, record)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Settings]:
        for index in range(len(self._records)):
            yield self[index]


def with_store(settings: Settings, url: str) -> Settings:
    """A copy of `settings` that uses another database (tests, demo)."""
    return replace(settings, store=replace(settings.store, url=url))
