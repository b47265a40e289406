"""Load and validate the TOML configuration into one immutable Settings.

The schema is the dataclasses below: their fields are the keys, their type
hints the types. Anything unknown, mistyped or missing stops the program with
one line that names the file and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal

from bot.crontab import crontab_fields
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
    entries: tuple[Settings, ...] = ()
    # Whose rows in the store are this list's: an entry's name; "" for a [list] config (see store_list).
    list_key: str = ""

    @property
    def store_list(self) -> str:
        """The list's key in the store. A single [list] config's rows are under SINGLE_LIST_KEY, whatever
        its name, so renaming the list keeps its history (bot/store/schema.py: DEFAULT_LIST is the same)."""
        return self.list_key or SINGLE_LIST_KEY

    @property
    def lists(self) -> tuple[Settings, ...]:
        """One single-list view per list: the [[lists]] entries, or this config itself when it has one [list]."""
        return self.entries or (self,)

    @property
    def list_names(self) -> tuple[str, ...]:
        return tuple(view.list.name for view in self.lists)

    def for_list(self, name: str | None) -> Settings:
        """The single-list view of list `name` (None: the only list); a ConfigError naming the lists otherwise."""
        views = self.lists
        if name is None:
            if len(views) == 1:
                return views[0]
            raise ConfigError(f"{self.config_path}: this config has {len(views)} lists: choose one with --list NAME "
                              f"({', '.join(self.list_names)})")
        for view in views:
            if view.list.name == name:
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


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read, validate and freeze the config file at `path`."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for reserved in ("config_path", "entries", "list_key"):
        if reserved in data:
            raise ConfigError(f"{path}: unknown key '{reserved}'")
    entries = data.pop("lists", None)
    # With [[lists]], [source] folders are only where the bot's own mail arrives (the chairs' replies): none
    # unless named. Their other mail belongs to no list.
    named_folders = isinstance(data.get("source"), dict) and "folders" in data["source"]
    data["config_path"] = str(path)
    settings = _anchored(_check(_build(Settings, data, str(path), ""), str(path)), path.resolve().parent)
    if entries is None:
        return settings
    if "list" in data:
        raise ConfigError(f"{path}: list: use either one [list] or [[lists]] entries, not both")
    from bot.listconfig import list_entries  # only a many-list config pays for it

    settings = replace(settings, entries=list_entries(settings, entries, str(path)))
    # What one poll of the whole config fetches: the bot's own folders, and every list's.
    own = settings.source.folders if named_folders else ()
    folders = tuple(dict.fromkeys((*own, *settings.all_folders)))
    return replace(settings, source=replace(settings.source, folders=folders))



def _anchored(settings: Settings, folder: Path) -> Settings:
    """Relative file names in the config name files beside it, wherever digestbot runs from (cron, systemd)."""

    def beside(name: str) -> str:
        return str(folder / name) if name and not Path(name).is_absolute() else name

    source, smtp, review = settings.source, settings.smtp, settings.review
    return replace(
        settings,
        source=replace(source, ca_file=beside(source.ca_file), password_file=beside(source.password_file)),
        smtp=replace(smtp, ca_file=beside(smtp.ca_file), password_file=beside(smtp.password_file)),
        review=replace(review, secret_file=beside(review.secret_file)),
        llm=replace(settings.llm, api_key_file=beside(settings.llm.api_key_file)),
        publish=replace(settings.publish, dir=beside(settings.publish.dir)),
    )


def _check(settings: Settings, where: str) -> Settings:
    """Cross-field checks that types alone cannot express."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    for key, name in (("list.timezone", settings.list.timezone), ("schedule.timezone", settings.schedule.timezone)):
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}: {key}: unknown timezone {name!r}") from None
    if settings.digest.summary_words < 10:
        raise ConfigError(f"{where}: digest.summary_words: must be at least 10")
    for rule in settings.digest.sections:
        for pattern in rule.subject + rule.body:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{where}: digest.sections[{rule.key}]: bad pattern {pattern!r}: {exc}") from None
    if settings.list.archive_url and "{message_id}" not in settings.list.archive_url:
        raise ConfigError(f"{where}: list.archive_url: must contain {{message_id}}")
    _check_call(settings.digest, where)
    for key in ("draft_cron", "remind_cron", "send_cron"):
        expr = getattr(settings.schedule, key)
        try:
            crontab_fields(expr)
        except ValueError as exc:
            raise ConfigError(f"{where}: schedule.{key}: {expr!r}: {exc}") from None
    _check_addresses(settings, where)
    _check_llm(settings, where)
    _check_publish(settings, where)
    return settings


def _check_publish(settings: Settings, where: str) -> None:
    """The archive's URL is where its pages are served: absolute, so the mail and the feed can link to it."""
    from urllib.parse import urlsplit

    url = settings.publish.base_url
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment \
                or any(c.isspace() or c in "<>\"" for c in url):
            raise ConfigError(f"{where}: publish.base_url: {url!r} is not an http:// or https:// URL of a folder")


def _check_llm(settings: Settings, where: str) -> None:
    """`strategy = "llm"` needs an endpoint and a model; the key stays unread until a draft needs it."""
    llm = settings.llm
    if settings.digest.strategy == "llm" and not llm.configured:
        raise ConfigError(f"{where}: digest.strategy: \"llm\" needs llm.base_url and llm.model")
    if llm.base_url and not llm.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: llm.base_url: {llm.base_url!r} is not an http:// or https:// URL")
    for key, value, least in (("timeout_seconds", llm.timeout_seconds, 1), ("max_concurrency", llm.max_concurrency, 1),
                              ("max_input_tokens", llm.max_input_tokens, 1000), ("retries", llm.retries, 0),
                              ("min_points", llm.min_points, 1)):
        if value < least:
            raise ConfigError(f"{where}: llm.{key}: must be at least {least}")


def _check_call(digest: DigestSettings, where: str) -> None:
    """The next call's weekday and time, read by bot.pipeline.digest.next_call."""
    if digest.call_weekday and digest.call_weekday.lower() not in WEEKDAYS:
        raise ConfigError(f"{where}: digest.call_weekday: not a weekday: {digest.call_weekday!r}")
    hour, colon, minute = digest.call_time.partition(":")
    if not (hour.isdigit() and int(hour) < 24 and (not colon or (len(minute) == 2 and minute.isdigit()
                                                              and int(minute) < 60))):
        raise ConfigError(f"{where}: digest.call_time: {digest.call_time!r} is not a time such as '15:00'")
    if digest.call_every_weeks < 1:
        raise ConfigError(f"{where}: digest.call_every_weeks: must be at least 1")


def _check_addresses(settings: Settings, where: str) -> None:
    """Every address the bot writes to or from is one address, as the email package parses it."""
    pairs = [("list.address", settings.list.address), ("smtp.from_address", settings.smtp.from_address),
             ("smtp.unsubscribe_address", settings.smtp.unsubscribe_address),
             ("digest.chair_address", settings.digest.chair_address)]
    pairs += [(f"review.chair_addresses[{i}]", a) for i, a in enumerate(settings.review.chair_addresses)]
    for key, value in pairs:
        if value:  # empty: not configured; the command that needs it says so
            problem = _address_problem(value)
            if problem:
                raise ConfigError(f"{where}: {key}: {value!r} is not an email address ({problem})")


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")


def _address_problem(value: str) -> str:
    """Why `value` is not one address such as "Name <user@example.org>"; "" when it is one."""
    from email.errors import HeaderParseError
    from email.headerregistry import AddressHeader, HeaderRegistry

    if _PLAIN_ADDRESS.fullmatch(value):  # user@example.org: one, whatever the parser says (it costs 0.2 ms)
        return ""
    try:
        header = HeaderRegistry()("To", value)
    except (HeaderParseError, ValueError, IndexError):  # the parser's defects surface as these
        return "it does not parse"
    assert isinstance(header, AddressHeader)  # what the registry makes of a To header
    if header.defects:
        return str(header.defects[0])
    if len(header.addresses) != 1 or any(group.display_name for group in header.groups):
        return "one address, not a list or a group"
    address = header.addresses[0]
    if not address.username or not address.domain:
        return "it needs a user and a domain: user@example.org"
    return ""


def _build(cls: type[Any], table: Any, where: str, prefix: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'top level'}: expected a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in known:
            raise ConfigError(f"{where}: unknown key '{prefix}{key}'")
    values: dict[str, Any] = {}
    for name, spec in known.items():
        if name in table:
            values[name] = _convert(hints[name], table[name], where, f"{prefix}{name}")
        elif spec.default is MISSING and spec.default_factory is MISSING:
            raise ConfigError(f"{where}: missing required key '{prefix}{name}'")
    return cls(**values)


def _convert(hint: Any, value: Any, where: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if isinstance(hint, type) and is_dataclass(hint):
        return _build(hint, value, where, key + ".")
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{where}: {key}: must be one of {choices}, not {value!r}")
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key}: expected a list")
        return tuple(_convert(args[0], v, where, f"{key}[{i}]") for i, v in enumerate(value))
    return _scalar(hint, value, where, key)


def _scalar(hint: Any, value: Any, where: str, key: str) -> Any:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{where}: {key}: expected an integer, not a boolean")
    if not isinstance(value, hint):
        raise ConfigError(f"{where}: {key}: expected {_type_name(hint)}, not {type(value).__name__}")
    return value


def _type_name(hint: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(hint, str(hint))


def with_store(settings: Settings, url: str) -> Settings:
    """A copy of `settings` that uses another database (tests, demo)."""
    return replace(settings, store=replace(settings.store, url=url))
