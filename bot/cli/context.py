"""What every command shares: the context (config and store, opened on first use) and output helpers.

`bot/cli/main.py` and `bot/cli/review.py` build on it; errors still become messages
and exit codes only in `bot.cli.main.main`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.store.database import Store
    from bot.store.sqlite_reader import MailReader



class Context:
    """What every command gets: the config path, loaded on first use, and the list chosen with --list."""

    def __init__(self, config: str | None, list_name: str | None = None) -> None:
        self.config = config
        self.list_name = list_name
        self._settings: Settings | None = None

    @property
    def config_settings(self) -> Settings:
        """The whole config: every list (for poll, run, schedule and status)."""
        if self._settings is None:
            if not self.config:
                raise ConfigError("no config: pass --config FILE or set DIGESTBOT_CONFIG")
            from bot.settings import load_settings

            self._settings = load_settings(self.config)
        return self._settings

    @property
    def settings(self) -> Settings:
        """The one list a command works on: --list NAME, or the config's only list."""
        return self.config_settings.for_list(self.list_name)

    def every_list(self, command: str) -> Settings:
        """The whole config, for a command that serves every list (--list does not apply to it)."""
        if self.list_name is not None:
            raise ConfigError(f"{command} serves every list of the config: --list does not apply to it")
        return self.config_settings

    def store(self) -> Store:
        """The store, as the chosen list sees it (a store from before lists gives its rows to the first list)."""
        from bot.store.database import open_store

        whole = self.config_settings
        return open_store(whole.store_url, whole.lists[0].store_list).for_list(self.settings.store_list)

    def mail_reader(self) -> MailReader:
        """The store, for commands that only read mail: a light sqlite3 reader when it can be."""
        from bot.store import open_mail_reader

        return open_mail_reader(self.settings.store_url, self.settings.store_list) or self.store()


pass_context = click.make_pass_decorator(Context)


def render_digest(settings: Settings, digest: Any, fmt: str) -> str:
    from bot.pipeline.digest import render_options
    from bot.render.digest import render

    return render(digest, fmt, render_options(settings))


def emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:  # owner-only, as the store: a draft may hold private mail
        with os.fdopen(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise ConfigError(f"--output {output}: {exc.strerror}") from None


class _NullBar:
    def __enter__(self) -> _NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def progress(total: int, label: str) -> Any:
    """A progress bar on a terminal, nothing otherwise."""
    if not sys.stderr.isatty():
        return _NullBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="B", unit_scale=True, file=sys.stderr, leave=False)
