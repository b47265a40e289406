"""The command line: a thin layer that loads settings, calls a stage, prints.

Errors from the stages arrive as DigestbotError and leave as one line on
stderr with the error's exit code. Heavy modules are imported inside the
commands that need them, so `--help`, `status` and a quiet `poll` start fast.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.errors import ConfigError, DigestbotError

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.store import Store

log = logging.getLogger("digestbot")
FORMATS = ("text", "html", "markdown", "json", "eml")


class Context:
    """What every command gets: the config path, loaded on first use."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            if not self.config:
                raise ConfigError("no config: pass --config FILE or set DIGESTBOT_CONFIG")
            from bot.settings import load_settings

            self._settings = load_settings(self.config)
        return self._settings

    def store(self) -> Store:
        from bot.store import open_store

        return open_store(self.settings.store_url)


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", envvar="DIGESTBOT_CONFIG", metavar="FILE",
              help="TOML config file (or set DIGESTBOT_CONFIG).")
@click.option("--verbose", "-v", is_flag=True, help="Log more detail on stderr.")
@click.option("--quiet", "-q", is_flag=True, help="Log only errors.")
@click.version_option(package_name="digestbot")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: bool, quiet: bool) -> None:
    """digestbot: turns a project's mailing list into weekly minutes."""
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    logging.basicConfig(level=level, format="digestbot: %(levelname)s: %(message)s", stream=sys.stderr)
    ctx.obj = Context(config)


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_context
def import_(ctx: Context, paths: tuple[Path, ...]) -> None:
    """Store and parse every message of mbox files or Maildir folders."""
    from bot.ingest import ingest
    from bot.source import open_source

    settings = ctx.settings
    store = ctx.store()
    for path in paths:
        source = open_source(path)
        with _progress(source.total_bytes, f"importing {path.name}") as bar:
            report = ingest(store, source, settings.limits, expected=None, on_progress=bar.update)
        click.echo(f"{path}: {report.line()}")


@cli.command()
@click.option("--week-of", type=click.DateTime(["%Y-%m-%d"]), help="Any day of the week to digest.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day of the period.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Day after the period (exclusive).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not stdout.")
@pass_context
def draft(ctx: Context, week_of: Any, since: Any, until: Any, fmt: str, output: Path | None) -> None:
    """Draft the digest of a week (or any period) from the store."""
    from bot.digest import build_digest, period_for

    settings = ctx.settings
    start, end = period_for(settings, week_of=week_of, since=since, until=until)
    title_date = week_of.date() if week_of else None
    digest = build_digest(ctx.store(), settings, start, end, title_date=title_date)
    _emit(_render(settings, digest, fmt), output)


# -- more commands are added below this line ---------------------------------


@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
def demo(fmt: str) -> None:
    """Draft and print the digest of the bundled demo week."""
    import tempfile

    from bot.digest import build_digest, period_for
    from bot.ingest import ingest
    from bot.resources import demo_config, demo_mailbox
    from bot.settings import load_settings, with_store
    from bot.source import open_source
    from bot.store import open_store

    with tempfile.TemporaryDirectory(prefix="digestbot-demo-") as tmp:
        settings = with_store(load_settings(demo_config()), f"sqlite:///{tmp}/demo.sqlite3")
        store = open_store(settings.store_url)
        ingest(store, open_source(demo_mailbox()), settings.limits)
        start, end = period_for(settings, week_of=_demo_week(), since=None, until=None)
        digest = build_digest(store, settings, start, end, title_date=_demo_week().date())
        store.engine.dispose()
    _emit(_render(settings, digest, fmt), None)


def _demo_week() -> Any:
    from datetime import datetime

    return datetime(2014, 8, 20)


def _render(settings: Settings, digest: Any, fmt: str) -> str:
    from bot.digest import render_options
    from bot.render import render

    return render(digest, fmt, render_options(settings))


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--output {output}: {exc.strerror}") from None


class _NullBar:
    def __enter__(self) -> _NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _progress(total: int, label: str) -> Any:
    """A progress bar on a terminal, nothing otherwise."""
    if not sys.stderr.isatty():
        return _NullBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="B", unit_scale=True, file=sys.stderr, leave=False)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: errors become one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="digestbot", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("digestbot: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DigestbotError as exc:
        click.echo(f"digestbot: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("digestbot: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
