"""Load and validate the TOML configuration into one immutable Settings.

The schema is the dataclasses of bot/settings/sections.py: their fields are
the keys, their type hints the types. Anything unknown, mistyped or missing
stops the program with one line that names the file and the key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from pathlib import Path

from bot.errors import ConfigError
from bot.settings.checks import anchored, build, check
from bot.settings.sections import *  # noqa: F403 - the settings' public names, as callers have always imported them
from bot.settings.sections import Settings


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
    settings = anchored(check(build(Settings, data, str(path), ""), str(path)), path.resolve().parent)
    if entries is None:
        return settings
    if "list" in data:
        raise ConfigError(f"{path}: list: use either one [list] or [[lists]] entries, not both")
    from bot.settings.lists import list_entries  # only a many-list config pays for it

    settings = replace(settings, entries=list_entries(settings, entries, str(path)))
    # What one poll of the whole config fetches: the bot's own folders, and every list's.
    own = settings.source.folders if named_folders else ()
    folders = tuple(dict.fromkeys((*own, *settings.all_folders)))
    return replace(settings, source=replace(settings.source, folders=folders))
