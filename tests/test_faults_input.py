"""Bad config and bad command-line input, for every command: one clear line, exit 2, nothing written.

"Nothing written": no new file but lock files, and the store's content (every
table, row for row) unchanged. Errors of the world (a server down, a draft in
the wrong state) are exit 1 and tested elsewhere; these are the user's typos.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.review import lifecycle
from bot.review.roster import add
from bot.settings import load_settings
from bot.store.database import open_store
from tests.helpers.mailfactory import make_raw, mbox_of
from tests.helpers.reviewkit import CHAIR, SECRET, SECRET_ENV, make_digest, write_config

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(Path(sys.executable).parent / "digestbot")

# Arguments that make each command get as far as reading the config. A new command
# must be added here: test_every_command_is_covered says so.
VALID_ARGS: dict[str, tuple[str, ...]] = {
    "actions": (), "approve": ("1",), "publish": ("--output", "site"),
    "draft": ("--week-of", "2014-08-20"), "edit": ("1",), "import": ("{mbox}",),
    "notify": ("1",), "poll": (), "reject": ("1", "--reason", "no"), "remind": (), "review": (),
    "run": ("--once",), "schedule": (), "send": (), "show": ("1",), "status": (),
    "subscribers add": ("ann@example.org",), "subscribers remove": ("ann@example.org",), "subscribers list": (),
}
NO_CONFIG = {"demo"}  # runs on its bundled config


def digestbot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, SECRET_ENV: SECRET, "EDITOR": "true", "VISUAL": "", **(env or {})}
    full.pop("DIGESTBOT_CONFIG", None)
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=full, cwd=cwd, timeout=120)


def one_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("digestbot: error: "), lines[0]
    return lines[0].removeprefix("digestbot: error: ")


def snapshot(folder: Path) -> tuple[frozenset[str], tuple[str, ...]]:
    """The files (lock files and SQLite's -wal/-shm aside) and every row of the store, if any."""
    files = frozenset(str(p.relative_to(folder)) for p in folder.rglob("*")
                      if not p.name.endswith((".lock", "-wal", "-shm")))
    db = folder / "store.sqlite3"
    if not db.exists():
        return files, ()
    conn = sqlite3.connect(db)
    try:
        return files, tuple(conn.iterdump())
    finally:
        conn.close()


def command_names() -> set[str]:
    top = subprocess.run([SCRIPT, "--help"], capture_output=True, text=True, check=True).stdout
    names = {line.split()[0] for line in top.split("Commands:")[1].splitlines() if line.strip()}
    sub = subprocess.run([SCRIPT, "subscribers", "--help"], capture_output=True, text=True, check=True).stdout
    names |= {f"subscribers {line.split()[0]}" for line in sub.split("Commands:")[1].splitlines() if line.strip()}
    return names - {"subscribers"}


def args_for(name: str, mbox: Path) -> list[str]:
    return [*name.split(), *(a.format(mbox=mbox) for a in VALID_ARGS[name])]


@pytest.fixture()
def mbox(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "week.mbox"
    path.parent.mkdir()
    path.write_bytes(mbox_of([make_raw(1), make_raw(2, reply_to=1)]))
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def test_every_command_is_covered() -> None:
    assert command_names() == set(VALID_ARGS) | NO_CONFIG


BAD_CONFIGS = {
    "unknown key": ("[store]\npaht = 'x'\n", "{config}: unknown key 'store.paht'"),
    "wrong type": ("[limits]\nmax_parts = 'many'\n", "{config}: limits.max_parts: expected an integer, not str"),
    "not TOML": ("[store\n", "{config}: not valid TOML: "),
    "bad timezone": ("[list]\ntimezone = 'Mars/Olympus'\n", "{config}: list.timezone: unknown timezone 'Mars/Olympus'"),
    "short crontab": ("[schedule]\ndraft_cron = '0 8 * *'\n",
                      "{config}: schedule.draft_cron: '0 8 * *': a crontab line"),
    "crontab day and weekday": ("[schedule]\ndraft_cron = '0 8 1 * tue'\n",
                                "{config}: schedule.draft_cron: '0 8 1 * tue': restrict"),
}


@pytest.mark.parametrize("name", sorted(VALID_ARGS))
def test_a_broken_config_stops_every_command(folder: Path, mbox: Path, name: str) -> None:
    config = folder / "digestbot.toml"
    config.write_text(BAD_CONFIGS["unknown key"][0])
    before = snapshot(folder)

    line = one_line(digestbot("--config", str(config), *args_for(name, mbox), cwd=folder))

    assert line == f"{config}: unknown key 'store.paht'"
    assert snapshot(folder) == before


@pytest.mark.parametrize("kind", sorted(BAD_CONFIGS))
def test_each_kind_of_broken_config(folder: Path, mbox: Path, kind: str) -> None:
    text, message = BAD_CONFIGS[kind]
    config = folder / "digestbot.toml"
    config.write_text(text)
    for name in ("import", "status", "send"):
        line = one_line(digestbot("--config", str(config), *args_for(name, mbox), cwd=folder))
        assert line.startswith(message.format(config=config)), line
    missing = one_line(digestbot("--config", str(folder / "nope.toml"), "status", cwd=folder))
    assert missing == f"{folder / 'nope.toml'}: config file not found"
    nothing = one_line(digestbot("status", cwd=folder))
    assert nothing == "no config: pass --config FILE or set DIGESTBOT_CONFIG"
    assert snapshot(folder) == (frozenset({"digestbot.toml"}), ())


# -- config that loads, but cannot do the job asked ----------------------------------


@pytest.mark.parametrize(("section", "args", "message"), [
    ("[source]\nusername = 'bot'\npassword_env = 'X'\n", ("poll",),
     "source.host: not set (the IMAP server that receives the list)"),
    ("[source]\nhost = '127.0.0.1'\nusername = 'bot'\npassword_env = 'DIGESTBOT_UNSET_PW'\n", ("poll",),
     "source: environment variable DIGESTBOT_UNSET_PW is not set"),
    ("[source]\nhost = '127.0.0.1'\nusername = 'bot'\npassword_env = 'X'\ntls = 'ssl'\nca_file = 'none.pem'\n",
     ("poll",), "source.ca_file: cannot load "),
])
def test_a_config_that_cannot_do_the_job(folder: Path, section: str, args: tuple[str, ...], message: str) -> None:
    config = folder / "digestbot.toml"
    config.write_text('[store]\npath = "store.sqlite3"\n' + section)
    before = snapshot(folder)

    line = one_line(digestbot("--config", str(config), *args, cwd=folder, env={"X": "pw"}))

    assert line.startswith(message), line
    assert snapshot(folder) == before


# -- bad command-line values, with a store that has something to lose ----------------------------


@pytest.fixture()
def ready(folder: Path, mbox: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config and a store holding mail and one approved digest (#1)."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    config = write_config(folder, None, mode="roster")
    assert digestbot("--config", str(config), "import", str(mbox), cwd=folder).returncode == 0
    settings = load_settings(config)
    store = open_store(settings.store_url)
    draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, draft.id, CHAIR, "cli")
    add(store, "ann@example.org")
    store.engine.dispose()
    return config


def _without(config: Path, *keys: str) -> None:
    config.write_text("".join(line + "\n" for line in config.read_text().splitlines()
                              if not line.startswith(keys)))


@pytest.mark.parametrize(("change", "args", "message"), [
    (lambda c: _without(c, "host = "), ("send",), "smtp.host is not configured"),
    (lambda c: _without(c, "secret_env = "), ("send",),
     "review.secret: no password_env or password_file configured"),
    (lambda c: _without(c, "chair_address", "chair_addresses"), ("draft", "--week-of", "2014-08-27", "--notify"),
     "review.chair_addresses (or digest.chair_address) is not configured"),
    (lambda c: _without(c, "secret_env = "), ("draft", "--week-of", "2014-08-27", "--notify"),
     "review.secret: no password_env or password_file configured"),
])
def test_a_config_missing_what_a_job_needs_writes_nothing(ready: Path, folder: Path, change: object,
                                                          args: tuple[str, ...], message: str) -> None:
    change(ready)  # type: ignore[operator]
    before = snapshot(folder)

    line = one_line(digestbot("--config", str(ready), *args, cwd=folder))

    assert line.startswith(message), line
    assert snapshot(folder) == before


BAD_INPUT = [
    (("approve", "99"), "no draft #99"),
    (("approve", "abc"), "Invalid value for 'DIGEST_ID': 'abc' is not a valid integer."),
    (("approve", "1", "--revision", "x"), "Invalid value for '--revision'"),
    (("reject", "99", "--reason", "typo"), "no draft #99"),
    (("reject", "1"), "Missing option '--reason'."),
    (("show", "99"), "no draft #99"),
    (("show", "1", "--revision", "7"), "draft #1 has no revision 7"),
    (("show", "1", "--format", "pdf"), "Invalid value for '--format'"),
    (("edit", "99"), "no draft #99"),
    (("notify", "99"), "no draft #99"),
    (("review", "99"), "no draft #99"),
    (("review", "--format", "yaml"), "Invalid value for '--format'"),
    (("draft", "--week-of", "2014-02-30"), "Invalid value for '--week-of'"),
    (("draft", "--since", "2014-08-20", "--until", "2014-08-01"), "--until must be after --since"),
    (("draft", "--week-of", "2014-08-20", "--since", "2014-08-18"), "--week-of cannot be combined"),
    (("import",), "Missing argument 'PATHS...'."),
    (("import", "no-such.mbox"), "no-such.mbox: no such file or folder"),
    (("run", "--wait", "-5"), "Invalid value for '--wait'"),
    (("poll", "--folder"), "Option '--folder' requires an argument."),
    (("send", "--now"), "No such option '--now'"),
    (("status", "--format", "xml"), "Invalid value for '--format'"),
    (("subscribers", "add", "not-an-address"), "not an email address: 'not-an-address'"),
    (("subscribers", "remove", "@"), "not an email address: '@'"),
    (("subscribers", "frob"), "No such command 'frob'."),
    (("frobnicate",), "No such command 'frobnicate'."),
]


@pytest.mark.parametrize(("args", "needle"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_command_line_input_is_one_line_exit_2_and_writes_nothing(ready: Path, folder: Path,
                                                                     args: tuple[str, ...], needle: str) -> None:
    before = snapshot(folder)

    line = one_line(digestbot("--config", str(ready), *args, cwd=folder))

    assert needle in line, line
    assert snapshot(folder) == before
