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

from bot.cli import review as cli_review
from bot.cli.actions import actions_cmd
from bot.cli.context import Context, emit, pass_context, progress, render_digest
from bot.cli.publish import publish_cmd
from bot.errors import ConfigError, DigestbotError
from bot.render import FORMATS

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.store.database import Store

log = logging.getLogger("digestbot")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", envvar="DIGESTBOT_CONFIG", metavar="FILE",
              help="TOML config file (or set DIGESTBOT_CONFIG).")
@click.option("--verbose", "-v", is_flag=True, help="Log more detail on stderr.")
@click.option("--quiet", "-q", is_flag=True, help="Log only errors.")
@click.option("--list", "list_name", metavar="NAME",
              help="The list to work on, by its [[lists]] name: needed when the config has more than one "
                   "(poll, run, schedule and status serve every list).")
@click.version_option(package_name="digestbot")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: bool, quiet: bool, list_name: str | None) -> None:
    """digestbot: turns a project's mailing lists into weekly minutes."""
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    logging.basicConfig(level=level, format="digestbot: %(levelname)s: %(message)s", stream=sys.stderr)
    ctx.obj = Context(config, list_name)


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_context
def import_(ctx: Context, paths: tuple[Path, ...]) -> None:
    """Store and parse every message of mbox files or Maildir folders."""
    from bot.errors import SourceError
    from bot.mail.ingest import ingest
    from bot.mail.source import open_source
    from bot.store import open_store_writer

    settings = ctx.settings
    sources = []
    for path in paths:  # every path is checked before anything is written
        try:
            sources.append((path, open_source(path)))
        except SourceError as exc:
            raise ConfigError(str(exc)) from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    # An SQLite file store is written through sqlite3, without SQLAlchemy's start-up; anything else: the Store.
    store = open_store_writer(settings.store_url, settings.store_list) or ctx.store()
    for path, source in sources:
        with progress(source.total_bytes, f"importing {path.name}") as bar:
            report = ingest(store, source, settings.limits, expected=None, on_progress=bar.update)
        click.echo(f"{path}: {report.line()}")


@cli.command()
@click.option("--week-of", type=click.DateTime(["%Y-%m-%d"]), help="Any day of the week to digest.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day of the period.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Day after the period (exclusive).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not stdout.")
@click.option("--save", is_flag=True, help="Store the draft for review (see `digestbot review`).")
@click.option("--notify", is_flag=True, help="Store the draft and email it to the chair for review.")
@pass_context
def draft(ctx: Context, week_of: Any, since: Any, until: Any, fmt: str, output: Path | None,
          save: bool, notify: bool) -> None:
    """Draft the digest of a week (or any period) from the store."""
    from bot.pipeline.digest import build_digest, period_for

    settings = ctx.settings
    start, end = period_for(settings, week_of=week_of, since=since, until=until)
    title_date = week_of.date() if week_of else None
    digest = build_digest(ctx.store() if save or notify else ctx.mail_reader(), settings, start, end,
                          title_date=title_date, parallel=True)
    if save or notify:
        cli_review.store_draft(ctx, digest, notify=notify, fmt=fmt, output=output)
        return
    emit(render_digest(settings, digest, fmt), output)


# -- more commands are added below this line ---------------------------------


# -- running by itself: bot/schedule/runner.py, bot/schedule/jobs.py ----------------------------


@cli.command("run")
@click.option("--once", is_flag=True, help="Run whatever is due now, then exit (for cron and systemd timers).")
@click.option("--wait", type=click.FloatRange(min=0), default=0, show_default=True, metavar="SECONDS",
              help="When another digestbot is working on the store, wait this long for it, then give up.")
@pass_context
def run_cmd(ctx: Context, once: bool, wait: float) -> None:
    """Poll, draft, remind and send on the configured schedule; stop with Ctrl-C or SIGTERM.

    A stop lets the current job finish; what was due and did not run yet runs
    at the next start. Exit status 75: another digestbot holds the store.
    """
    from bot.errors import ScheduleError
    from bot.schedule.runner import run, setup_logging

    settings = ctx.every_list("run")
    setup_logging(settings)
    failed = run(settings, once=once, wait=wait)
    if failed:
        raise ScheduleError(f"failed: {', '.join(failed)} (each is retried at its next run)")


@cli.command("schedule")
@pass_context
def schedule_cmd(ctx: Context) -> None:
    """Show the jobs, their next run times (in schedule.timezone) and how each last went."""
    from bot.schedule.runner import schedule_table

    click.echo(schedule_table(ctx.every_list("schedule")))


@cli.command()
@click.option("--watch", is_flag=True, help="Stay connected and fetch mail as it arrives (IMAP IDLE, else polling).")
@click.option("--folder", "folders", multiple=True, metavar="NAME", help="Poll only this folder (repeatable).")
@pass_context
def poll(ctx: Context, watch: bool, folders: tuple[str, ...]) -> None:
    """Fetch what is new in the IMAP folders into the store; print a one-line summary."""
    # Only bot.imap.poll here: a nothing-new poll must not import SQLAlchemy or the parser.
    from bot.imap.poll import PollReport
    from bot.review.inbox import poll_list as poll_imap

    if not log.isEnabledFor(logging.DEBUG):  # imapclient's INFO lines ("Connection closed") are noise
        logging.getLogger("imapclient").setLevel(logging.WARNING)

    def show(report: PollReport) -> bool:
        if any(f.fetched or f.resynced for f in report.folders) or not shown:
            click.echo(report.line())
            shown.append(True)
        return True

    shown: list[bool] = []
    report = poll_imap(ctx.every_list("poll"), watch=watch, folders=folders, on_cycle=show if watch else None)
    if not watch:
        click.echo(report.line())


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_context
def status(ctx: Context, fmt: str) -> None:
    """Last poll per folder, messages stored and flagged, pending drafts (per list), store integrity."""
    import json

    from bot.store.database import open_store

    settings = ctx.every_list("status")
    data = _status(settings, open_store(settings.store_url, settings.lists[0].store_list))
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    counts, drafts = data["messages"], data["drafts_pending"]
    click.echo(f"store: {data['store']} (integrity {data['integrity']})")
    click.echo(f"messages: {counts['messages']} stored, {counts['flagged']} flagged, {counts['unparsed']} unparsed, "
               f"{data['collisions']} sharing a Message-ID with another")
    click.echo(f"drafts pending: {drafts['total']} "
               f"({', '.join(f'{n} {state}' for state, n in drafts.items() if state != 'total')})")
    for one in data["lists"] if len(data["lists"]) > 1 else ():
        pending = one["drafts_pending"]
        click.echo(f"list {one['name']}: {one['messages']} messages, drafts pending: {pending['total']} "
                   f"({', '.join(f'{n} {state}' for state, n in pending.items() if state != 'total')})")
    for folder in data["folders"]:
        when = folder["last_poll_at"] or "never"
        line = f"{folder['folder']}: last poll {when}, last UID {folder['last_uid']}"
        click.echo(line + (f"; last error: {folder['last_error']}" if folder["last_error"] else ""))


PENDING_DRAFT_STATES = ("drafted", "awaiting", "approved")


def _status(settings: Settings, store: Store) -> dict[str, Any]:
    from bot.store import open_sync_state, safe_url

    state = open_sync_state(settings.store_url, store)
    known = {s.folder: s for s in state.all()}
    state.close()
    names = dict.fromkeys((*settings.source.folders, *settings.source.archive_folders, *known))
    in_list = store.list_counts()
    lists, pending = [], dict.fromkeys(PENDING_DRAFT_STATES, 0)
    by_list = store.drafts.count_by_list(PENDING_DRAFT_STATES)
    for view in settings.lists:
        mine = by_list.get(view.store_list, dict.fromkeys(PENDING_DRAFT_STATES, 0))
        pending = {state: pending[state] + mine[state] for state in PENDING_DRAFT_STATES}
        lists.append({"name": view.list.name, "address": view.list.address, "folders": list(view.source.folders),
                      "messages": in_list.get(view.store_list, 0),
                      "drafts_pending": {**mine, "total": sum(mine.values())}})
    folders = []
    for name in names:
        s = known.get(name)
        folders.append({
            "folder": name, "uidvalidity": s.uidvalidity if s else None, "last_uid": s.last_uid if s else 0,
            "last_poll_at": s.last_poll_at.isoformat(timespec="seconds") if s and s.last_poll_at else None,
            "last_error": s.last_error if s else None,
        })
    counts = store.counts()
    return {
        "store": safe_url(settings.store_url),  # no database password
        "integrity": store.integrity(), "messages": counts, "flagged": counts["flagged"],
        "collisions": store.collisions(),  # kept under a derived key: bot/store/identity.py
        "drafts_pending": {**pending, "total": sum(pending.values())}, "folders": folders, "lists": lists,
    }


@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
def demo(fmt: str) -> None:
    """Draft and print the digest of the bundled demo week."""
    import tempfile

    from bot.mail.ingest import ingest
    from bot.mail.source import open_source
    from bot.pipeline.digest import build_digest, period_for
    from bot.resources import demo_config, demo_mailbox
    from bot.settings import load_settings, with_store
    from bot.store.database import open_store

    with tempfile.TemporaryDirectory(prefix="digestbot-demo-") as tmp:
        settings = with_store(load_settings(demo_config()), f"sqlite:///{tmp}/demo.sqlite3")
        store = open_store(settings.store_url)
        ingest(store, open_source(demo_mailbox()), settings.limits)
        start, end = period_for(settings, week_of=_demo_week(), since=None, until=None)
        digest = build_digest(store, settings, start, end, title_date=_demo_week().date())
        store.close()
    emit(render_digest(settings, digest, fmt), None)


def _demo_week() -> Any:
    from datetime import datetime

    return datetime(2014, 8, 20)


for _command in cli_review.COMMANDS:
    cli.add_command(_command)
cli.add_command(publish_cmd)
cli.add_command(actions_cmd)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: errors become one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="digestbot", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("digestbot: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:  # one line, like every other error
        see = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        click.echo(f"digestbot: error: {' '.join(exc.format_message().split())}{see}", err=True)
        sys.exit(exc.exit_code)
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
