"""What the review commands print: the drafts table, one draft's history, `show`, `edit`."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bot.errors import ConfigError, ReviewError
from bot.publish.names import page_url
from bot.render import FORMATS
from bot.render.message import bot_address
from bot.review import lifecycle
from bot.review.mail import Parts, digest_message
from bot.settings import Settings
from bot.store.database import Store, now


def period(draft: lifecycle.Draft) -> str:
    # The period is [start, end): an end at midnight means the day before.
    last = draft.period_end - timedelta(days=1) if draft.period_end.time() == time(0) else draft.period_end
    return f"{draft.period_start:%Y-%m-%d}..{last:%Y-%m-%d}"


def age(since: datetime, at: datetime) -> str:
    seconds = max(0, int((at - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def size(count: int) -> str:
    return f"{count} B" if count < 1000 else f"{count / 1000:.1f} kB"


def _last(changes: list[lifecycle.Transition]) -> str:
    if not changes:
        return ""
    last = changes[-1]
    return f"{last.to_state} by {last.actor} via {last.via}" + (f": {last.note}" if last.note else "")


def drafts_data(store: Store) -> list[dict[str, Any]]:
    at = now()
    out = []
    changes = lifecycle.history(store)
    for draft in lifecycle.drafts(store):
        rev = lifecycle.revision(store, draft.id)
        mine = [c for c in changes if c.digest_id == draft.id]
        out.append({
            "id": draft.id, "period": period(draft), "period_start": draft.period_start.isoformat(),
            "period_end": draft.period_end.isoformat(), "state": draft.state, "revision": draft.revision,
            "subject": rev.parts.subject, "size": len(rev.parts.text.encode()), "edited": rev.edited,
            "age_seconds": int((at - draft.created_at).total_seconds()), "age": age(draft.created_at, at),
            "created_at": draft.created_at.isoformat(), "superseded_by": draft.superseded_by,
            "reminded_at": draft.reminded_at.isoformat() if draft.reminded_at else None,
            "last": _last(mine), "transitions": [_transition(c) for c in mine],
            "deliveries": _deliveries(store, draft.id),
            "coverage": rev.digest.get("coverage"),
        })
    return out


def _transition(change: lifecycle.Transition) -> dict[str, Any]:
    return {"from": change.from_state, "to": change.to_state, "actor": change.actor, "via": change.via,
            "at": change.at.isoformat(), "note": change.note}


def _deliveries(store: Store, digest_id: int) -> list[dict[str, Any]]:
    return [{"recipient": r.recipient, "revision": r.revision, "state": r.state, "attempts": r.attempts,
             "last_error": r.last_error, "updated_at": r.updated_at.isoformat()}
            for r in store.deliveries.of_digest(digest_id)]


def drafts_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no drafts yet: `digestbot draft --week-of DATE --notify` makes one\n"
    head = ("ID", "PERIOD", "STATE", "REV", "SIZE", "AGE", "LAST")
    body = [(str(r["id"]), r["period"], r["state"], str(r["revision"]) + ("*" if r["edited"] else ""),
             size(r["size"]), r["age"], r["last"]) for r in rows]
    widths = [max(len(line[i]) for line in (head, *body)) for i in range(len(head) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
             for line in (head, *body)]
    return "\n".join(line.rstrip() for line in lines) + "\n" + ("(* edited by hand)\n" if any(
        r["edited"] for r in rows) else "")


def draft_detail(row: dict[str, Any]) -> str:
    lines = [f"#{row['id']} {row['subject']}",
             f"  state {row['state']}, revision {row['revision']}, period {row['period']}, drafted {row['age']} ago",
             "  history:"]
    if row.get("coverage"):
        from bot.render.minutes import coverage_line

        lines.insert(2, f"  {coverage_line(row['coverage'])}")
    lines += [f"    {t['at'][:16].replace('T', ' ')}  {t['from'] or '-'} -> {t['to']}  by {t['actor']} via {t['via']}"
              + (f"  ({t['note']})" if t["note"] else "") for t in row["transitions"]]
    if row["deliveries"]:
        lines.append("  deliveries:")
        lines += [f"    {d['recipient']}: {d['state']} (r{d['revision']}, {d['attempts']} attempt(s))"
                  + (f" {d['last_error']}" if d["last_error"] else "") for d in row["deliveries"]]
    return "\n".join(lines) + "\n"


def show(store: Store, settings: Settings, digest_id: int, fmt: str, number: int | None = None) -> str:
    draft = lifecycle.get(store, digest_id)
    rev = lifecycle.revision(store, digest_id, number)
    if fmt == "text":
        return rev.parts.text
    if fmt == "html":
        return rev.parts.html
    if fmt == "markdown":
        return rev.parts.markdown
    if fmt == "json":
        data = {"id": draft.id, "revision": rev.revision, "state": draft.state, "subject": rev.parts.subject,
                "edited": rev.edited, "created_by": rev.created_by, "digest": rev.digest,
                "markdown": rev.parts.markdown}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "eml":
        return preview_email(settings, draft, rev.parts, web_url=page_url(settings.publish.base_url, draft.id,
                                                                          rev.digest)).as_bytes().decode("utf-8")
    raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def preview_email(settings: Settings, draft: lifecycle.Draft, parts: Parts, web_url: str = "") -> EmailMessage:
    """The mail `send` will send for this revision, as the list gets it (roster mode: To is per
    subscriber, so undisclosed). Dated by the period's end, not now: a stored revision previews
    to the same bytes every time, and differs from a sent copy only in To, Date and List-Unsubscribe."""
    to = settings.list.address if settings.smtp.mode == "list" else "undisclosed-recipients:;"
    return digest_message(parts, settings, message_id=draft.mail_message_id, to=to or bot_address(settings),
                          date=draft.period_end, web_url=web_url)


def run_editor(text: str, name: str) -> str:
    """Open $VISUAL or $EDITOR (else vi) on `text` in a private temporary file; the result."""
    command = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
    fd, path = tempfile.mkstemp(prefix=f"digestbot-{name}-", suffix=".md")  # mode 0600: drafts may be private
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        try:
            status = subprocess.run([*command, path], check=False).returncode
        except OSError as exc:
            raise ConfigError(f"cannot run editor {command[0]!r}: {exc.strerror}") from None
        if status != 0:
            raise ReviewError(f"the editor exited with status {status}; nothing stored")
        return Path(path).read_text(encoding="utf-8")
    finally:
        Path(path).unlink(missing_ok=True)
