"""Turning a TOML table into the settings dataclasses, and the checks types alone cannot express.

Every mistake is a ConfigError naming the file and the key.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import MISSING, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal

from bot.crontab import crontab_fields
from bot.errors import ConfigError
from bot.settings.sections import WEEKDAYS, DigestSettings, Settings


def anchored(settings: Settings, folder: Path) -> Settings:
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


def check(settings: Settings, where: str) -> Settings:
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
    _check_engine(settings, where)
    _check_addresses(settings, where)
    _check_llm(settings, where)
    _check_publish(settings, where)
    return settings


def _check_engine(settings: Settings, where: str) -> None:
    """Instances can share only a store they all reach: a PostgreSQL server."""
    schedule = settings.schedule
    if schedule.engine != "procrastinate":
        return
    if not settings.store_url.startswith("postgresql"):
        raise ConfigError(f"{where}: schedule.engine: \"procrastinate\" shares a PostgreSQL store between "
                          "instances; set store.url to a postgresql:// URL")
    if schedule.worker_timeout_seconds < 2:
        raise ConfigError(f"{where}: schedule.worker_timeout_seconds: must be at least 2")


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
            problem = address_problem(value)
            if problem:
                raise ConfigError(f"{where}: {key}: {value!r} is not an email address ({problem})")


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")


def address_problem(value: str) -> str:
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


def build(cls: type[Any], table: Any, where: str, prefix: str) -> Any:
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
            values[name] = convert(hints[name], table[name], where, f"{prefix}{name}")
        elif spec.default is MISSING and spec.default_factory is MISSING:
            raise ConfigError(f"{where}: missing required key '{prefix}{name}'")
    return cls(**values)


def convert(hint: Any, value: Any, where: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if isinstance(hint, type) and is_dataclass(hint):
        return build(hint, value, where, key + ".")
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{where}: {key}: must be one of {choices}, not {value!r}")
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return convert(inner[0], value, where, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key}: expected a list")
        return tuple(convert(args[0], v, where, f"{key}[{i}]") for i, v in enumerate(value))
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
