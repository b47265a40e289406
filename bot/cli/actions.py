"""`digestbot actions`: the minutes' tracked actions, and closing one by hand."""

from __future__ import annotations

import getpass
import json
from typing import TYPE_CHECKING, Any

import click

from bot.cli.context import Context, emit, pass_context

if TYPE_CHECKING:
    from bot.store.minutes import TrackedAction


@click.group("actions", invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Also the actions of drafts not sent yet (proposed).")
@click.pass_context
def actions_cmd(click_ctx: click.Context, fmt: str, show_all: bool) -> None:
    """List the actions the sent digests track (open ones first); `actions done ID` closes one.

    An action is closed by `digestbot actions done ID`, by the chair replying
    `done ID` to a review mail, or by a `DONE:` line from its owner on the list.
    """
    if click_ctx.invoked_subcommand is not None:
        return
    ctx = click_ctx.find_object(Context)
    assert ctx is not None
    rows = [_row(a) for a in ctx.store().actions.all(sent_only=not show_all)]
    rows.sort(key=lambda r: (r["state"] != "open", r["id"]))
    if fmt == "json":
        emit(json.dumps({"actions": rows}, indent=2, ensure_ascii=False) + "\n", None)
        return
    if not rows:
        emit("no tracked actions yet: they come from ACTION: lines in the digests that were sent\n", None)
        return
    lines = [f"#{r['id']}  {r['state']:<8} {r['who']}: {r['what']}  (since {r['since']}, digest #{r['digest_id']}"
             + (f"; closed {r['closed_at'][:10]} by {r['closed_by']} via {r['closed_via']}" if r["closed_at"] else "")
             + ")" for r in rows]
    emit("\n".join(lines) + "\n", None)


def _row(action: TrackedAction) -> dict[str, Any]:
    state = action.state if action.digest_state == "sent" else "proposed"
    return {"id": action.id, "who": action.who, "what": action.what, "since": action.since.date().isoformat(),
            "message_id": action.message_id, "digest_id": action.digest_id, "state": state,
            "closed_at": action.closed_at.isoformat() if action.closed_at else None,
            "closed_by": action.closed_by, "closed_via": action.closed_via, "note": action.note}


@actions_cmd.command("done")
@click.argument("action_id", type=int, metavar="ID")
@click.option("--note", default="", help="Why or how it was done (kept with the action).")
@pass_context
def done_cmd(ctx: Context, action_id: int, note: str) -> None:
    """Close action ID (exit 1, nothing changed, if there is no such open action)."""
    from bot.review.memory import close_action
    from bot.store.rows import now

    closed = close_action(ctx.store(), action_id, by=_actor(), via="cli", at=now(), note=" ".join(note.split()))
    click.echo(f"closed #{closed.id}: {closed.who}: {closed.what}")


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"
