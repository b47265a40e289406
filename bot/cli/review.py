"""Review and delivery commands: drafts, revisions, approval, sending, the subscriber roster.

The stages live in bot/review*.py and bot/send*.py; these commands only load,
call and print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bot.cli.context import Context, emit, pass_context, render_digest
from bot.render import FORMATS


def _actor() -> str:
    """Who typed the command, for the transitions record."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def store_draft(ctx: Context, digest: Any, *, notify: bool, fmt: str, output: Path | None) -> None:
    from bot.review.lifecycle import store_draft
    from bot.review.notify import check_ready

    settings, store = ctx.settings, ctx.store()
    if notify:
        check_ready(settings)
    info = store_draft(store, settings, digest, _actor(), "cli")
    if output is not None and fmt == "eml":
        from bot.review.view import show

        emit(show(store, settings, info.id, "eml"), output)  # the stored draft's own Message-ID, as `send` uses
    elif output is not None:
        emit(render_digest(settings, digest, fmt), output)
    superseded = f"; it supersedes #{', #'.join(map(str, info.superseded))}" if info.superseded else ""
    click.echo(f"stored draft #{info.id} (revision {info.revision}): {info.subject}{superseded}")
    if notify:
        from bot.review.mail import chair_addresses
        from bot.review.notify import request_review

        request_review(store, settings, info.id, actor=_actor(), via="cli")
        click.echo(f"review mail sent to {', '.join(chair_addresses(settings))}")


@click.command("review")
@click.argument("digest_id", type=int, required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_context
def review_cmd(ctx: Context, digest_id: int | None, fmt: str) -> None:
    """List the drafts (id, period, state, revision, size, age), or the history of one."""
    import json

    from bot.review.view import draft_detail, drafts_data, drafts_table

    rows = drafts_data(ctx.store())
    if digest_id is not None:
        rows = [row for row in rows if row["id"] == digest_id]
        if not rows:
            from bot.errors import NoSuchDraft

            raise NoSuchDraft(f"no draft #{digest_id}")
    if fmt == "json":
        emit(json.dumps(rows if digest_id is None else rows[0], indent=2, ensure_ascii=False) + "\n", None)
    else:
        emit(draft_detail(rows[0]) if digest_id is not None else drafts_table(rows), None)


@click.command("show")
@click.argument("digest_id", type=int)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text",
              show_default=True)
@click.option("--revision", "number", type=int, help="An earlier revision (default: the current one).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not stdout.")
@pass_context
def show_cmd(ctx: Context, digest_id: int, fmt: str, number: int | None, output: Path | None) -> None:
    """Print a stored draft as subscribers would get it."""
    from bot.review.view import show

    emit(show(ctx.store(), ctx.settings, digest_id, fmt, number), output)


@click.command("edit")
@click.argument("digest_id", type=int)
@click.option("--notify", is_flag=True, help="Mail the new revision to the chair for approval.")
@pass_context
def edit_cmd(ctx: Context, digest_id: int, notify: bool) -> None:
    """Edit a draft's Markdown in $EDITOR; the result is stored as a new revision."""
    from bot.review import lifecycle
    from bot.review.view import run_editor

    store = ctx.store()
    current = lifecycle.revision(store, digest_id)
    text = run_editor(current.parts.markdown, f"{digest_id}-r{current.revision}")
    if text.strip() == current.parts.markdown.strip():
        click.echo(f"#{digest_id}: no change")
        return
    moved = lifecycle.edit(store, digest_id, text, _actor(), "cli", revision_seen=current.revision)
    click.echo(f"#{digest_id}: revision {moved.revision} stored; it is {moved.state} and needs approval")
    if notify:
        from bot.review.notify import request_review

        request_review(store, ctx.settings, digest_id, actor=_actor(), via="cli")
        click.echo(f"#{digest_id}: review mail for revision {moved.revision} sent")


@click.command("approve")
@click.argument("digest_id", type=int)
@click.option("--revision", "number", type=int, help="Approve only if this is still the current revision.")
@pass_context
def approve_cmd(ctx: Context, digest_id: int, number: int | None) -> None:
    """Approve a draft (its current revision) for sending."""
    from bot.review import lifecycle

    moved = lifecycle.approve(ctx.store(), digest_id, _actor(), "cli", revision_seen=number)
    click.echo(f"#{digest_id}: revision {moved.revision} approved; `digestbot send` delivers it")


@click.command("reject")
@click.argument("digest_id", type=int)
@click.option("--reason", required=True, help="Why; recorded with the rejection.")
@pass_context
def reject_cmd(ctx: Context, digest_id: int, reason: str) -> None:
    """Reject a draft; it will never be sent."""
    from bot.review import lifecycle

    lifecycle.reject(ctx.store(), digest_id, _actor(), "cli", reason)
    click.echo(f"#{digest_id}: rejected")


@click.command("notify")
@click.argument("digest_id", type=int)
@pass_context
def notify_cmd(ctx: Context, digest_id: int) -> None:
    """Mail a stored draft to the chair for review (again)."""
    from bot.review.notify import request_review

    moved = request_review(ctx.store(), ctx.settings, digest_id, actor=_actor(), via="cli")
    click.echo(f"#{digest_id}: review mail for revision {moved.revision} sent")


@click.command("send")
@pass_context
def send_cmd(ctx: Context) -> None:
    """Send every approved digest not sent yet (and finish an interrupted send)."""
    from bot.delivery.send import send_approved

    for line in send_approved(ctx.store(), ctx.settings, via="cli").lines():
        click.echo(line)


@click.command("remind")
@pass_context
def remind_cmd(ctx: Context) -> None:
    """Remind the chair, once, of drafts still unapproved after the send deadline."""
    from bot.review.notify import send_reminders

    reminded = send_reminders(ctx.store(), ctx.settings)
    click.echo(f"reminded the chair of #{', #'.join(map(str, reminded))}" if reminded else "no reminder due")


@click.group("subscribers")
def subscribers_cmd() -> None:
    """The roster that gets the digest when smtp.mode = "roster"."""


@subscribers_cmd.command("add")
@click.argument("address")
@click.option("--name", default="", help="Display name.")
@pass_context
def subscribers_add(ctx: Context, address: str, name: str) -> None:
    from bot.review.roster import add, normalize

    click.echo(f"{normalize(address)}: {'subscribed' if add(ctx.store(), address, name) else 'already subscribed'}")


@subscribers_cmd.command("remove")
@click.argument("address")
@pass_context
def subscribers_remove(ctx: Context, address: str) -> None:
    from bot.review.roster import normalize, remove

    click.echo(f"{normalize(address)}: {'unsubscribed' if remove(ctx.store(), address) else 'not subscribed'}")


@subscribers_cmd.command("list")
@click.option("--all", "everyone", is_flag=True, help="Include those who unsubscribed.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_context
def subscribers_list(ctx: Context, everyone: bool, fmt: str) -> None:
    import json

    from bot.review.roster import members

    people = members(ctx.store(), include_inactive=everyone)
    if fmt == "json":
        data = [{"address": p.address, "name": p.name, "active": p.active, "changed_via": p.changed_via,
                 "changed_at": p.changed_at.isoformat()} for p in people]
        emit(json.dumps(data, indent=2, ensure_ascii=False) + "\n", None)
        return
    for p in people:
        click.echo(p.display + ("" if p.active else f"  (unsubscribed via {p.changed_via})"))
    click.echo(f"{sum(p.active for p in people)} active subscriber(s)", err=True)


COMMANDS = (review_cmd, show_cmd, edit_cmd, approve_cmd, reject_cmd, notify_cmd, send_cmd, remind_cmd,
            subscribers_cmd)
