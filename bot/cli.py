"""The command line: a thin layer that loads settings, calls a stage, prints.

Errors from the stages arrive as DigestbotError and leave as one line on
stderr with the error's exit code. Heavy modules are imported inside the
commands that need them, so `--help`, `status` and a quiet `poll` start fast.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.errors import ConfigError, DigestbotError

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.store import Store
    from bot.store_read import MailReader

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

    def mail_reader(self) -> MailReader:
        """The store, for commands that only read mail: a light sqlite3 reader when it can be."""
        from bot.store_read import open_mail_reader

        return open_mail_reader(self.settings.store_url) or self.store()


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
    from bot.errors import SourceError
    from bot.ingest import ingest
    from bot.source import open_source

    settings = ctx.settings
    sources = []
    for path in paths:  # every path is checked before anything is written
        try:
            sources.append((path, open_source(path)))
        except SourceError as exc:
            raise ConfigError(str(exc)) from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    store = ctx.store()
    for path, source in sources:
        with _progress(source.total_bytes, f"importing {path.name}") as bar:
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
    from bot.digest import build_digest, period_for

    settings = ctx.settings
    start, end = period_for(settings, week_of=week_of, since=since, until=until)
    title_date = week_of.date() if week_of else None
    digest = build_digest(ctx.store() if save or notify else ctx.mail_reader(), settings, start, end,
                          title_date=title_date)
    if save or notify:
        _store_draft(ctx, digest, notify=notify, fmt=fmt, output=output)
        return
    _emit(_render(settings, digest, fmt), output)


# -- more commands are added below this line ---------------------------------


# -- running by itself: bot/schedule.py, bot/jobs.py ----------------------------


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
    from bot.schedule import run, setup_logging

    settings = ctx.settings
    setup_logging(settings)
    failed = run(settings, once=once, wait=wait)
    if failed:
        raise ScheduleError(f"failed: {', '.join(failed)} (each is retried at its next run)")


@cli.command("schedule")
@pass_context
def schedule_cmd(ctx: Context) -> None:
    """Show the jobs, their next run times (in schedule.timezone) and how each last went."""
    from bot.schedule import schedule_table

    click.echo(schedule_table(ctx.settings))


# -- review and delivery: bot/review*.py, bot/send*.py -------------------------


def _actor() -> str:
    """Who typed the command, for the transitions record."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _store_draft(ctx: Context, digest: Any, *, notify: bool, fmt: str, output: Path | None) -> None:
    from bot.review import store_draft
    from bot.review_notify import check_ready

    settings, store = ctx.settings, ctx.store()
    if notify:
        check_ready(settings)
    info = store_draft(store, settings, digest, _actor(), "cli")
    if output is not None:
        _emit(_render(settings, digest, fmt), output)
    superseded = f"; it supersedes #{', #'.join(map(str, info.superseded))}" if info.superseded else ""
    click.echo(f"stored draft #{info.id} (revision {info.revision}): {info.subject}{superseded}")
    if notify:
        from bot.review_mail import chair_addresses
        from bot.review_notify import request_review

        request_review(store, settings, info.id, actor=_actor(), via="cli")
        click.echo(f"review mail sent to {', '.join(chair_addresses(settings))}")


@cli.command("review")
@click.argument("digest_id", type=int, required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_context
def review_cmd(ctx: Context, digest_id: int | None, fmt: str) -> None:
    """List the drafts (id, period, state, revision, size, age), or the history of one."""
    import json

    from bot.review_view import draft_detail, drafts_data, drafts_table

    rows = drafts_data(ctx.store())
    if digest_id is not None:
        rows = [row for row in rows if row["id"] == digest_id]
        if not rows:
            from bot.errors import NoSuchDraft

            raise NoSuchDraft(f"no draft #{digest_id}")
    if fmt == "json":
        _emit(json.dumps(rows if digest_id is None else rows[0], indent=2, ensure_ascii=False) + "\n", None)
    else:
        _emit(draft_detail(rows[0]) if digest_id is not None else drafts_table(rows), None)


@cli.command("show")
@click.argument("digest_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["text", "html", "markdown", "json", "eml"]), default="text",
              show_default=True)
@click.option("--revision", "number", type=int, help="An earlier revision (default: the current one).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not stdout.")
@pass_context
def show_cmd(ctx: Context, digest_id: int, fmt: str, number: int | None, output: Path | None) -> None:
    """Print a stored draft as subscribers would get it."""
    from bot.review_view import show

    _emit(show(ctx.store(), ctx.settings, digest_id, fmt, number), output)


@cli.command("edit")
@click.argument("digest_id", type=int)
@click.option("--notify", is_flag=True, help="Mail the new revision to the chair for approval.")
@pass_context
def edit_cmd(ctx: Context, digest_id: int, notify: bool) -> None:
    """Edit a draft's Markdown in $EDITOR; the result is stored as a new revision."""
    from bot import review
    from bot.review_view import run_editor

    store = ctx.store()
    current = review.revision(store, digest_id)
    text = run_editor(current.parts.markdown, f"{digest_id}-r{current.revision}")
    if text.strip() == current.parts.markdown.strip():
        click.echo(f"#{digest_id}: no change")
        return
    moved = review.edit(store, digest_id, text, _actor(), "cli", revision_seen=current.revision)
    click.echo(f"#{digest_id}: revision {moved.revision} stored; it is {moved.state} and needs approval")
    if notify:
        from bot.review_notify import request_review

        request_review(store, ctx.settings, digest_id, actor=_actor(), via="cli")
        click.echo(f"#{digest_id}: review mail for revision {moved.revision} sent")


@cli.command("approve")
@click.argument("digest_id", type=int)
@click.option("--revision", "number", type=int, help="Approve only if this is still the current revision.")
@pass_context
def approve_cmd(ctx: Context, digest_id: int, number: int | None) -> None:
    """Approve a draft (its current revision) for sending."""
    from bot import review

    moved = review.approve(ctx.store(), digest_id, _actor(), "cli", revision_seen=number)
    click.echo(f"#{digest_id}: revision {moved.revision} approved; `digestbot send` delivers it")


@cli.command("reject")
@click.argument("digest_id", type=int)
@click.option("--reason", required=True, help="Why; recorded with the rejection.")
@pass_context
def reject_cmd(ctx: Context, digest_id: int, reason: str) -> None:
    """Reject a draft; it will never be sent."""
    from bot import review

    review.reject(ctx.store(), digest_id, _actor(), "cli", reason)
    click.echo(f"#{digest_id}: rejected")


@cli.command("notify")
@click.argument("digest_id", type=int)
@pass_context
def notify_cmd(ctx: Context, digest_id: int) -> None:
    """Mail a stored draft to the chair for review (again)."""
    from bot.review_notify import request_review

    moved = request_review(ctx.store(), ctx.settings, digest_id, actor=_actor(), via="cli")
    click.echo(f"#{digest_id}: review mail for revision {moved.revision} sent")


@cli.command("send")
@pass_context
def send_cmd(ctx: Context) -> None:
    """Send every approved digest not sent yet (and finish an interrupted send)."""
    from bot.send import send_approved

    for line in send_approved(ctx.store(), ctx.settings, via="cli").lines():
        click.echo(line)


@cli.command("remind")
@pass_context
def remind_cmd(ctx: Context) -> None:
    """Remind the chair, once, of drafts still unapproved after the send deadline."""
    from bot.review_notify import send_reminders

    reminded = send_reminders(ctx.store(), ctx.settings)
    click.echo(f"reminded the chair of #{', #'.join(map(str, reminded))}" if reminded else "no reminder due")


@cli.group("subscribers")
def subscribers_cmd() -> None:
    """The roster that gets the digest when smtp.mode = "roster"."""


@subscribers_cmd.command("add")
@click.argument("address")
@click.option("--name", default="", help="Display name.")
@pass_context
def subscribers_add(ctx: Context, address: str, name: str) -> None:
    from bot.send_roster import add, normalize

    click.echo(f"{normalize(address)}: {'subscribed' if add(ctx.store(), address, name) else 'already subscribed'}")


@subscribers_cmd.command("remove")
@click.argument("address")
@pass_context
def subscribers_remove(ctx: Context, address: str) -> None:
    from bot.send_roster import normalize, remove

    click.echo(f"{normalize(address)}: {'unsubscribed' if remove(ctx.store(), address) else 'not subscribed'}")


@subscribers_cmd.command("list")
@click.option("--all", "everyone", is_flag=True, help="Include those who unsubscribed.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_context
def subscribers_list(ctx: Context, everyone: bool, fmt: str) -> None:
    import json

    from bot.send_roster import members

    people = members(ctx.store(), include_inactive=everyone)
    if fmt == "json":
        data = [{"address": p.address, "name": p.name, "active": p.active, "changed_via": p.changed_via,
                 "changed_at": p.changed_at.isoformat()} for p in people]
        _emit(json.dumps(data, indent=2, ensure_ascii=False) + "\n", None)
        return
    for p in people:
        click.echo(p.display + ("" if p.active else f"  (unsubscribed via {p.changed_via})"))
    click.echo(f"{sum(p.active for p in people)} active subscriber(s)", err=True)


@cli.command()
@click.option("--watch", is_flag=True, help="Stay connected and fetch mail as it arrives (IMAP IDLE, else polling).")
@click.option("--folder", "folders", multiple=True, metavar="NAME", help="Poll only this folder (repeatable).")
@pass_context
def poll(ctx: Context, watch: bool, folders: tuple[str, ...]) -> None:
    """Fetch what is new in the IMAP folders into the store; print a one-line summary."""
    # Only bot.imap here: a nothing-new poll must not import SQLAlchemy or the parser.
    from bot.imap import PollReport
    from bot.imap import poll as poll_imap

    if not log.isEnabledFor(logging.DEBUG):  # imapclient's INFO lines ("Connection closed") are noise
        logging.getLogger("imapclient").setLevel(logging.WARNING)

    def show(report: PollReport) -> bool:
        if any(f.fetched or f.resynced for f in report.folders) or not shown:
            click.echo(report.line())
            shown.append(True)
        return True

    shown: list[bool] = []
    report = poll_imap(ctx.settings, watch=watch, folders=folders, on_cycle=show if watch else None)
    if not watch:
        click.echo(report.line())


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_context
def status(ctx: Context, fmt: str) -> None:
    """Last poll per folder, messages stored and flagged, pending drafts, store integrity."""
    import json

    data = _status(ctx.settings, ctx.store())
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    counts, drafts = data["messages"], data["drafts_pending"]
    click.echo(f"store: {data['store']} (integrity {data['integrity']})")
    click.echo(f"messages: {counts['messages']} stored, {counts['flagged']} flagged, {counts['unparsed']} unparsed")
    click.echo(f"drafts pending: {drafts['total']} "
               f"({', '.join(f'{n} {state}' for state, n in drafts.items() if state != 'total')})")
    for folder in data["folders"]:
        when = folder["last_poll_at"] or "never"
        line = f"{folder['folder']}: last poll {when}, last UID {folder['last_uid']}"
        click.echo(line + (f"; last error: {folder['last_error']}" if folder["last_error"] else ""))


PENDING_DRAFT_STATES = ("drafted", "awaiting", "approved")


def _status(settings: Settings, store: Store) -> dict[str, Any]:
    import re

    import sqlalchemy as sa

    from bot.store import digests
    from bot.syncstate import open_sync_state

    state = open_sync_state(settings.store_url, store)
    known = {s.folder: s for s in state.all()}
    state.close()
    names = dict.fromkeys((*settings.source.folders, *settings.source.archive_folders, *known))
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(digests.c.state, sa.func.count()).where(
            digests.c.state.in_(PENDING_DRAFT_STATES)).group_by(digests.c.state))
        pending = {s: 0 for s in PENDING_DRAFT_STATES} | {s: n for s, n in rows}
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
        "store": re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", settings.store_url),  # no database password
        "integrity": store.integrity(), "messages": counts, "flagged": counts["flagged"],
        "drafts_pending": {**pending, "total": sum(pending.values())}, "folders": folders,
    }


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
