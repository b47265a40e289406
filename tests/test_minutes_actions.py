"""Tracked actions without the servers: the chair's edit updates an action, DONE: lines name actions.

The end-to-end run (tests/test_minutes_e2e.py) closes actions each of the three ways;
here are the rules those rest on, on a real SQLite store and the real pipeline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.mail.ingest import ingest
from bot.model import Mail, RawMail
from bot.pipeline.digest import build_digest
from bot.pipeline.followup import done_lines
from bot.review import lifecycle
from bot.review.replies import parse_command
from bot.settings import LimitSettings, Settings, with_store
from bot.store.database import Store, open_store
from bot.store.minutes import TrackedAction
from tests.helpers.mailfactory import make_raw

W1 = datetime(2014, 8, 18, tzinfo=UTC)


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}")


def test_the_chairs_edit_of_an_action_line_updates_the_action(store: Store, tmp_path: Path) -> None:
    settings = with_store(Settings(), f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ingest(store, [RawMail(make_raw(1, sender="Dave Scott <dave@example.org>", when=W1 + timedelta(hours=9),
                                    body="Merged.\n\nACTION: Dave to add vchan support.\n"), "t")], LimitSettings())
    week = build_digest(store, settings, W1, W1 + timedelta(days=7))
    first = lifecycle.store_draft(store, settings, week, "t", "cli")
    assert "Action #1: Dave Scott, add vchan support" in lifecycle.revision(store, first.id).parts.text
    # A redraft of the week keeps the action's id (the same line of the same message).
    lifecycle.reject(store, first.id, "t", "cli", "again")
    info = lifecycle.store_draft(store, settings, build_digest(store, settings, W1, W1 + timedelta(days=7)), "t",
                                 "cli")
    markdown = lifecycle.revision(store, info.id).parts.markdown
    assert "Action \\#1: Dave Scott, add vchan support" in markdown
    lifecycle.edit(store, info.id, markdown.replace("add vchan support", "add vchan and xenstore support"), "t",
                   "cli")
    action = store.actions.get(1)
    assert action is not None and (action.who, action.what) == ("Dave Scott", "add vchan and xenstore support")
    assert action.digest_id == info.id and len(store.actions.all(sent_only=False)) == 1


def _action(id_: int, who: str, what: str) -> TrackedAction:
    return TrackedAction(id_, who, what, 1, f"<a{id_}@x>", "open", W1, None, None, None, "", None, W1, "sent")


def _mail(n: int, author: str, body: str) -> Mail:
    return Mail(f"<m{n}@x>", "s", author, f"{author.split()[0].lower()}@example.org", W1 + timedelta(hours=n),
                body=body)


@pytest.mark.parametrize(("author", "line", "closed", "why"), [
    ("Dave Scott", "DONE: add vchan support", [1], ""),
    ("Dave", "DONE: #1", [1], ""),  # by id; "Dave" is Dave Scott
    ("Maya Okafor", "DONE: the vchan support is added", [1], ""),  # the chair may close any
    ("Mallory Mole", "DONE: add vchan support", [], "only the owner or the chair"),
    ("Dave Scott", "DONE: fixed the build", [], "names no open action"),
    ("Dave Scott", "DONE: #7", [], "names no open action"),
    ("Anil Madhavapeddy", "- DONE: release notes for 0.9 written", [2], ""),
])
def test_a_done_line_closes_what_it_names_if_its_writer_may(author: str, line: str, closed: list[int],
                                                            why: str) -> None:
    carried = [_action(1, "Dave Scott", "add vchan support"),
               _action(2, "Anil Madhavapeddy", "write the release notes for 0.9")]
    mail = _mail(1, author, f"Some news.\n\n{line}\n")
    closings, refused = done_lines([mail], carried, "Maya Okafor")
    assert [c.action_id for c in closings] == closed
    assert (refused == []) if not why else (len(refused) == 1 and why in refused[0])


@pytest.mark.parametrize("body", [
    "Pushed to master.\nDONE: add vchan support\n",  # right under the text: cleaning joins the two lines
    "Pushed to master, all tests pass, thanks everyone for the reviews.\n\nDONE: #1\n",  # a short last paragraph
    "Pushed.\nDONE: #1\n-- \nDave\n",
])
def test_a_done_line_is_read_from_the_message_as_written(body: str) -> None:
    closings, refused = done_lines([_mail(1, "Dave Scott", body)], [_action(1, "Dave Scott", "add vchan support")],
                                   "Maya Okafor")
    assert [c.action_id for c in closings] == [1] and refused == []


def test_a_quoted_done_line_is_not_the_writers() -> None:
    body = "Nice work.\n\n> Pushed to master.\n> DONE: add vchan support\n"
    closings, refused = done_lines([_mail(1, "Dave Scott", body)], [_action(1, "Dave Scott", "add vchan support")],
                                   "Maya Okafor")
    assert closings == [] and refused == []


def test_a_done_line_leaves_the_summary_also_right_under_other_text(store: Store, tmp_path: Path) -> None:
    settings = with_store(Settings(), f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ingest(store, [RawMail(make_raw(1, sender="Dave Scott <dave@example.org>", when=W1 + timedelta(hours=9),
                                    body="Pushed the vchan branch to master today.\nDONE: add vchan support\n"),
                           "t")], LimitSettings())
    week = build_digest(store, settings, W1, W1 + timedelta(days=7))
    said = " ".join(s.text for section in week.sections for item in section.items for s in item.summary)
    assert "Pushed the vchan branch" in said and "DONE" not in said


def test_the_chairs_done_reply_is_a_command() -> None:
    assert parse_command("done 3\n") == ("done", "3")
    assert parse_command("Done #12: booked room 4\n\n> quoted\n") == ("done", "12 booked room 4")
    assert parse_command("done\n")[0] == "unknown"
