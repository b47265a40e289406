"""The list's poll with the bot's own mail acted on: bot.imap.poll below, bot.review.replies above.

Kept light: a poll that finds nothing new imports neither the review code
nor SQLAlchemy; BotMail is imported only once a folder has new mail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from bot.imap.poll import BotMailFactory, BotMailFilter, PollReport, poll

if TYPE_CHECKING:
    from bot.mail.smtp import Mailer
    from bot.model import RawMail
    from bot.settings import Settings
    from bot.store.database import Store


def bot_mail_filter(settings: Settings, mailer: Mailer | None = None) -> BotMailFactory:
    """Replies to review mail and unsubscribe requests, acted on; notices go out through `mailer`."""

    def make(store: Callable[[], Store]) -> BotMailFilter:
        from bot.review.replies import BotMail

        if settings.entries:
            return ListsBotMail(store, settings, mailer=mailer)
        return BotMail(store, settings, mailer=mailer)

    return make


class ListsBotMail:
    """Many lists: each reply is acted on as the list whose review mail it answers (bot.review.replies),
    with that list's settings and rows; mail that answers no draft goes to the first list, except an
    unsubscribe: it leaves the list it names (bot.review.roster says how), whichever list handles it."""

    def __init__(self, store: Callable[[], Store], settings: Settings, *, mailer: Mailer | None = None) -> None:
        from bot.render.message import bot_address
        from bot.review.roster import unsubscribe_address

        self._store, self.settings, self.mailer = store, settings, mailer
        # One view per distinct pair of bot addresses: usually a single one serves every list.
        self._addressed = list({(bot_address(v), unsubscribe_address(v)): v for v in settings.lists}.values())
        self.pending: list[bytes] = []
        self.results: list[Any] = []

    def filter(self, mails: Iterable[RawMail]) -> Iterator[RawMail]:
        from bot.review.replies import is_for_bot

        for mail in mails:
            if any(is_for_bot(mail.raw, view) for view in self._addressed):
                self.pending.append(mail.raw)
            else:
                yield mail

    def flush(self) -> list[Any]:
        from bot.review.replies import answered_digests, handle_bot_mail

        if not self.pending:
            return []
        store, first = self._store(), self.settings.lists[0].list.name  # entries: key and name are one
        names, by_list = set(self.settings.list_names), dict[str, list[bytes]]()
        for raw in self.pending:
            name = next((found for d in answered_digests(raw) if (found := store.list_of_digest(d)) in names), first)
            by_list.setdefault(name, []).append(raw)
        done = [result for name, raws in by_list.items()
                for result in handle_bot_mail(store.for_list(name), self.settings.for_list(name), raws,
                                              mailer=self.mailer, config=self.settings)]
        self.pending = []
        self.results.extend(done)
        return done


def poll_list(settings: Settings, *, mailer: Mailer | None = None, **options: Any) -> PollReport:
    """`bot.imap.poll.poll`, with the bot's own mail taken out and acted on (default mailer: [smtp])."""
    return poll(settings, bot_mail=bot_mail_filter(settings, mailer), **options)
