"""The poll's hook for the bot's own mail (bot.imap.poll.BotMailFactory), against a real Dovecot.

One filter serves the whole poll: with [[lists]] making one reads every list's bot addresses,
and a first sync of 10,000 folders used to make it once per folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.imap.poll import poll
from bot.model import RawMail
from bot.settings import load_settings
from bot.store.database import Store
from tests.helpers.dovecot import Dovecot, write_config
from tests.helpers.mailfactory import make_raw


@dataclass(frozen=True)
class Took:
    action: str


class SubjectFilter:
    """Takes mail whose Subject says BOT, and "acts" on it when flushed."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []
        self.results: list[Took] = []

    def filter(self, mails: Iterable[RawMail]) -> Iterator[RawMail]:
        for mail in mails:
            if b"Subject: BOT" in mail.raw:
                self.pending.append(mail.raw)
            else:
                yield mail

    def flush(self) -> list[Took]:
        done = [Took("taken") for _ in self.pending]
        self.pending = []
        self.results.extend(done)
        return done


def test_one_bot_mail_filter_serves_every_folder_and_each_folder_reports_its_own(dovecot: Dovecot,
                                                                                  tmp_path: Path) -> None:
    for folder, first in (("lists/a", 1), ("lists/b", 10), ("lists/c", 20)):
        bot_mail = [make_raw(first + 1).replace(b"Subject: ", b"Subject: BOT ", 1)] if folder != "lists/c" else []
        dovecot.deliver(folder, [make_raw(first), *bot_mail])
    made: list[SubjectFilter] = []

    def factory(_store: Callable[[], Store]) -> SubjectFilter:
        made.append(SubjectFilter())
        return made[-1]

    config = load_settings(write_config(tmp_path / "digestbot.toml", dovecot,
                                        folders=["lists/a", "lists/b", "lists/c"]))
    report = poll(config, bot_mail=factory)
    assert report.line() == ("lists/a: 1 new (0 already stored), last UID 2, 1 to the bot (1 taken); "
                             "lists/b: 1 new (0 already stored), last UID 2, 1 to the bot (1 taken); "
                             "lists/c: 1 new (0 already stored), last UID 1")
    assert len(made) == 1 and len(made[0].results) == 2
    assert poll(config, bot_mail=factory).line() == ("lists/a: nothing new; lists/b: nothing new; "
                                                     "lists/c: nothing new")
    assert len(made) == 1  # a poll with nothing new makes none
