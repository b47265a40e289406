"""Config mistakes are caught when the file is loaded, each naming the file and the key.

The basics (unknown keys, types, TOML, timezones, patterns) are in
tests/test_foundation.py; here: the call, crontab lines and addresses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings

SCRIPT = str(Path(sys.executable).parent / "digestbot")


def load(tmp_path: Path, text: str) -> str:
    """The message of the ConfigError that loading `text` raises; it starts with the file's name."""
    path = tmp_path / "digestbot.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize(("text", "message"), [
    ("[digest]\ncall_weekday = 'tuesdy'\n", "digest.call_weekday: not a weekday: 'tuesdy'"),
    ("[digest]\ncall_weekday = 'tuesday'\ncall_time = '25:00'\n", "digest.call_time: '25:00' is not a time"),
    ("[digest]\ncall_time = '4pm'\n", "digest.call_time: '4pm' is not a time"),
    ("[digest]\ncall_time = '16:5'\n", "digest.call_time: '16:5' is not a time"),
    ("[digest]\ncall_every_weeks = 0\n", "digest.call_every_weeks: must be at least 1"),
])
def test_a_bad_call_day_or_time_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    assert load(tmp_path, text).startswith(message)


@pytest.mark.parametrize(("key", "expr", "message"), [
    ("draft_cron", "0 8 * *", "a crontab line has 5 fields"),
    ("draft_cron", "0 8 1 * tue", "not both"),
    ("remind_cron", "0 25 * * *", "hour: 25 is not in 0-23"),
    ("remind_cron", "60 9 * * *", "minute: 60 is not in 0-59"),
    ("send_cron", "*/0 * * * *", "the step after '/' must be a whole number above 0"),
    ("send_cron", "0 8 * * 9", "not a weekday: '9'"),
    ("send_cron", "0 8 * * fri-mon", "runs backwards"),
    ("draft_cron", "0 8 32 * *", "day: 32 is not in 1-31"),
    ("draft_cron", "0 8 * smarch *", "month: not a number: 'smarch'"),
    ("draft_cron", "0 10-8 * * *", "hour: range '10-8' runs backwards"),
])
def test_a_bad_crontab_line_names_the_key(tmp_path: Path, key: str, expr: str, message: str) -> None:
    got = load(tmp_path, f"[schedule]\n{key} = '{expr}'\n")
    assert got.startswith(f"schedule.{key}: {expr!r}: "), got
    assert message in got


def test_crontab_lines_cron_accepts_load(tmp_path: Path) -> None:
    path = tmp_path / "digestbot.toml"
    path.write_text("[schedule]\ndraft_cron = '0 8 * jan-dec mon-fri'\nremind_cron = '5,35 */2 1-31/2 * *'\n"
                    "send_cron = '*/30 * * * 0-6'\n", encoding="utf-8")
    assert load_settings(path).schedule.remind_cron == "5,35 */2 1-31/2 * *"


@pytest.mark.parametrize(("text", "key"), [
    ("[list]\naddress = 'devel'\n", "list.address"),
    ("[list]\naddress = 'Dev List <devel@lists.example.org'\n", "list.address"),
    ("[smtp]\nfrom_address = 'digestbot@lists.example.org>'\n", "smtp.from_address"),
    ("[smtp]\nunsubscribe_address = '@example.org'\n", "smtp.unsubscribe_address"),
    ("[digest]\nchair_address = 'Maya Okafor maya@example.org'\n", "digest.chair_address"),
    ("[review]\nchair_addresses = ['maya@example.org', 'ann@example.org, bob@example.org']\n",
     "review.chair_addresses[1]"),
    ("[review]\nchair_addresses = ['chairs: maya@example.org;']\n", "review.chair_addresses[0]"),
])
def test_a_bad_address_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    got = load(tmp_path, text)
    assert got.startswith(f"{key}: "), got
    assert "is not an email address" in got


def test_addresses_with_a_name_load(tmp_path: Path) -> None:
    path = tmp_path / "digestbot.toml"
    path.write_text("[list]\naddress = 'Dev List <devel@lists.example.org>'\n"
                    "[review]\nchair_addresses = ['Maya Okafor <maya@example.org>', 'ann@localhost']\n",
                    encoding="utf-8")
    assert load_settings(path).list.address == "Dev List <devel@lists.example.org>"


@pytest.mark.parametrize("command", [("status",), ("schedule",), ("run", "--once")])
def test_the_cli_says_one_line_naming_file_and_key_and_exits_2(tmp_path: Path, command: tuple[str, ...]) -> None:
    config = tmp_path / "digestbot.toml"
    config.write_text("[store]\npath = 'store.sqlite3'\n[schedule]\nsend_cron = '*/30 * * *'\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "DIGESTBOT_CONFIG"}
    result = subprocess.run([SCRIPT, "--config", str(config), *command], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"digestbot: error: {config}: schedule.send_cron: '*/30 * * *': "
        "a crontab line has 5 fields: minute hour day month weekday"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digestbot.toml"]  # nothing was opened or written
