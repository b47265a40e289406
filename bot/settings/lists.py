"""A config's [[lists]] entries, each made into a whole single-list Settings view (bot/settings/).

    [[lists]]
    name = "xen-devel"                 # unique; letters, digits, . _ -
    address = "xen-devel@lists.example.org"
    folders = ["lists/xen-devel"]      # default: [name]
    chair = "Maya Okafor"
    chair_address = "maya@example.org"
    [lists.digest]                     # any [digest], [review], [smtp], [publish] or [schedule] key,
    min_messages = 5                   # for this list alone

Everything not overridden is the file's own section. A mistake names the file,
the entry (its name and position) and the key.
"""

from __future__ import annotations

import re
import typing
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.settings import checks
from bot.settings import sections as base

LIST_KEYS = ("name", "address", "archive_url", "timezone", "folders", "chair", "chair_address")
OVERRIDABLE: dict[str, type[Any]] = {
    "digest": base.DigestSettings, "review": base.ReviewSettings, "smtp": base.SmtpSettings,
    "publish": base.PublishSettings, "schedule": base.ScheduleSettings,
}
# One poller and one log serve every list.
GLOBAL_ONLY = {"schedule": ("poll_minutes", "log_file", "engine", "worker_timeout_seconds")}
# A name is a store key, part of a job id and a folder name of the published archive.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def list_entries(settings: base.Settings, entries: Any, where: str) -> base.ListViews:
    """The views of `entries` (the TOML array), checked; `settings` is the file's own, checked and anchored."""
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{where}: lists: expected one or more [[lists]] tables")
    if settings.source.archive_folders:
        raise ConfigError(f"{where}: source.archive_folders: with [[lists]], each list names its own folders")
    hints = {cls: typing.get_type_hints(cls) for cls in OVERRIDABLE.values()}
    folder = Path(where).resolve().parent
    seen: dict[str, int] = {}
    records = tuple(_entry(settings, entry, where, index, seen, hints, folder) for index, entry in enumerate(entries))
    return base.ListViews(settings, tuple(seen), records, _made)


# An entry without overrides, kept until its view is asked for: its [list] section, its folders, and its
# chair and chair address (None: the file's).
Record = tuple[base.ListSettings, tuple[str, ...], str | None, str | None]


def _made(settings: base.Settings, record: Record) -> base.Settings:
    """The view of an entry without overrides: the file's own sections, with the entry's list and folders."""
    listed, folders, chair, chair_address = record
    digest = {key: value for key, value in (("chair", chair), ("chair_address", chair_address)) if value is not None}
    publish = {"dir": str(Path(settings.publish.dir) / listed.name)} if settings.publish.dir else {}  # side by side
    return replace(settings, list=listed, source=replace(settings.source, folders=folders),
                   digest=_changed(settings.digest, digest), publish=_changed(settings.publish, publish),
                   list_key=listed.name)


def _entry(settings: base.Settings, entry: dict[str, Any], where: str, index: int, seen: dict[str, int],
           hints: dict[type[Any], dict[str, Any]], folder: Path) -> base.Settings | Record:
    """One entry, checked whole: its view if it overrides sections, else its Record."""
    name = entry.get("name")
    if not isinstance(name, str):
        raise ConfigError(f"{where}: lists[{index}]: missing required key 'name'" if name is None else
                          f"{where}: lists[{index}]: name: expected a string, not {type(name).__name__}")
    label = f"{where}: list {name!r} (lists[{index}])"
    if not NAME.fullmatch(name):
        raise ConfigError(f"{label}: name: use 1-100 letters, digits, '.', '_' or '-', starting with a letter "
                          "or digit")
    if name in seen:
        raise ConfigError(f"{label}: name: already the name of lists[{seen[name]}]")
    seen[name] = index
    for key in entry:
        if key not in LIST_KEYS and key not in OVERRIDABLE:
            raise ConfigError(f"{label}: unknown key '{key}'")
    text = {key: checks.convert(str, entry[key], label, key) for key in LIST_KEYS
            if key in entry and key != "folders"}
    folders = checks.convert(tuple[str, ...], entry.get("folders", [name]), label, "folders")
    if not folders:
        raise ConfigError(f"{label}: folders: name at least one folder")
    overrides = {section: _overrides(entry[section], section, cls, hints[cls], label)
                 for section, cls in OVERRIDABLE.items() if section in entry}
    if not overrides:
        record: Record = (base.ListSettings(**{k: v for k, v in text.items() if k not in ("chair", "chair_address")}),
                          folders, text.get("chair"), text.get("chair_address"))
        # The rest of its view is the file's own sections, checked once already.
        _check_entry(record[0], record[3] or settings.digest.chair_address, label)
        return record
    digest = overrides.get("digest", {})
    digest.update({key: text.pop(key) for key in ("chair", "chair_address") if key in text})
    publish = overrides.get("publish", {})
    if settings.publish.dir and "dir" not in publish:
        publish["dir"] = str(Path(settings.publish.dir) / name)  # one archive per list, side by side
    view = replace(
        settings,
        list=base.ListSettings(**text),
        source=replace(settings.source, folders=folders),
        digest=_changed(settings.digest, digest),
        review=_changed(settings.review, overrides.get("review", {})),
        smtp=_changed(settings.smtp, overrides.get("smtp", {})),
        publish=_changed(settings.publish, publish),
        schedule=_changed(settings.schedule, overrides.get("schedule", {})),
        list_key=name,
    )
    # The whole check, and file names made absolute, as for the file's own sections.
    return checks.anchored(checks.check(view, label), folder)


def _changed(section: Any, values: dict[str, Any]) -> Any:
    """`section` with `values` (sections are immutable: a list without overrides shares the file's)."""
    return replace(section, **values) if values else section


def _check_entry(listed: base.ListSettings, chair_address: str, label: str) -> None:
    """What a list without overrides adds to the file's checked sections: its timezone and addresses."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(listed.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{label}: list.timezone: unknown timezone {listed.timezone!r}") from None
    if listed.archive_url and "{message_id}" not in listed.archive_url:
        raise ConfigError(f"{label}: list.archive_url: must contain {{message_id}}")
    for key, value in (("list.address", listed.address), ("digest.chair_address", chair_address)):
        problem = checks.address_problem(value) if value else ""
        if problem:
            raise ConfigError(f"{label}: {key}: {value!r} is not an email address ({problem})")


def _overrides(table: Any, section: str, cls: type[Any], hints: dict[str, Any], label: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{label}: {section}: expected a table")
    known = {f.name for f in fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in known or key in GLOBAL_ONLY.get(section, ()):
            why = "not per list" if key in known else "unknown key"
            raise ConfigError(f"{label}: {why} '{section}.{key}'")
        values[key] = checks.convert(hints[key], value, label, f"{section}.{key}")
    return values
