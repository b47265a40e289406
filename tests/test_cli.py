"""The CLI through the installed console script, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.mailfactory import make_raw, mbox_of

SCRIPT = str(Path(sys.executable).parent / "digestbot")


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DIGESTBOT_CONFIG", None) if env is None or "DIGESTBOT_CONFIG" not in env else None
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120)


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "digestbot.toml"
    path.write_text(
        '[list]\nname = "dev"\naddress = "dev@lists.example.org"\n'
        'archive_url = "https://archive.example.org/{message_id}"\n'
        '[store]\npath = "store.sqlite3"\n[digest]\nchair = "Ann Example"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture()
def mbox(tmp_path: Path) -> Path:
    path = tmp_path / "week.mbox"
    path.write_bytes(mbox_of([
        make_raw(1, subject="Release plan for 2.0", body="We agreed to release 2.0 on 1 September.\n"),
        make_raw(2, subject="Re: Release plan for 2.0", sender="Bob Builder <bob@example.org>",
                 body="I will prepare the changelog by Friday.\n", reply_to=1),
    ]))
    return path


def test_help_for_every_command() -> None:
    top = run("--help")
    assert top.returncode == 0
    commands = [line.split()[0] for line in top.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert {"import", "draft", "demo"} <= set(commands)
    for command in commands:
        result = run(command, "--help")
        assert result.returncode == 0, command
        assert "Usage:" in result.stdout


def test_import_then_draft_json(config: Path, mbox: Path) -> None:
    imported = run("--config", str(config), "import", str(mbox))
    assert imported.returncode == 0, imported.stderr
    assert "2 read, 2 new" in imported.stdout
    again = run("--config", str(config), "import", str(mbox))
    assert "0 new, 2 already stored" in again.stdout
    drafted = run("--config", str(config), "draft", "--week-of", "2014-08-20", "--format", "json")
    assert drafted.returncode == 0, drafted.stderr
    data = json.loads(drafted.stdout)
    assert data["stats"] == {"messages": 2, "threads": 1, "participants": 2}
    assert data["attendees"][0] == "Ann Example"
    thread = data["sections"][0]["threads"][0]
    assert thread["subject"] == "Release plan for 2.0"
    assert thread["url"] == "https://archive.example.org/1@test.example"
    assert {s["author"] for s in thread["summary"]} == {"Ann Example", "Bob Builder"}


def test_a_chair_who_did_not_write_attends_but_is_not_counted(config: Path, mbox: Path) -> None:
    config.write_text(config.read_text(encoding="utf-8").replace("Ann Example", "Carol Chair"), encoding="utf-8")
    assert run("--config", str(config), "import", str(mbox)).returncode == 0
    drafted = run("--config", str(config), "draft", "--week-of", "2014-08-20", "--format", "json")
    data = json.loads(drafted.stdout)
    assert data["attendees"] == ["Carol Chair", "Bob Builder", "Ann Example"]
    assert data["stats"]["participants"] == 2  # those who wrote


def test_config_from_environment_and_output_file(config: Path, mbox: Path, tmp_path: Path) -> None:
    env = {"DIGESTBOT_CONFIG": str(config)}
    assert run("import", str(mbox), env=env).returncode == 0
    out = tmp_path / "digest.md"
    result = run("draft", "--since", "2014-08-18", "--until", "2014-08-25", "--format", "markdown",
                 "--output", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("---\n")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("draft", "--week-of", "yesterday"), "Invalid value for '--week-of'"),
        (("draft", "--since", "2014-08-20", "--until", "2014-08-01"), "--until must be after --since"),
        (("draft",), "give --week-of DATE"),
        (("draft", "--week-of", "2014-08-20", "--format", "pdf"), "Invalid value for '--format'"),
        (("frobnicate",), "No such command"),
    ],
)
def test_bad_command_line_is_one_line_and_exit_2(config: Path, args: tuple[str, ...], needle: str) -> None:
    result = run("--config", str(config), *args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[store]\npaht = 'x'\n")
    result = run("--config", str(bad), "draft", "--week-of", "2014-08-20")
    assert result.returncode == 2
    assert result.stderr.strip() == f"digestbot: error: {bad}: unknown key 'store.paht'"
    assert not (tmp_path / "digestbot.sqlite3").exists()  # nothing written


def test_missing_config_and_missing_mailbox(config: Path, tmp_path: Path) -> None:
    result = run("draft", "--week-of", "2014-08-20")
    assert result.returncode == 2
    assert "no config" in result.stderr
    missing = run("--config", str(config), "import", str(tmp_path / "none.mbox"))
    assert missing.returncode == 2  # a wrong path on the command line is bad input
    assert "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
