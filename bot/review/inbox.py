"""The list's poll with the bot's own mail acted on: bot.imap.poll below, bot.review.replies above.

Kept light: a poll that finds nothing new imports neither the review code
nor SQLAlchemy; BotMail is imported only once a folder has new mail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.imap.poll import BotMailFactory, BotMailFilter, PollReport, poll

if TYPE_CHECKING:
    from bot.delivery.smtp import Mailer
    from bot.settings import Settings
    from bot.store.database import Store


def bot_mail_filter(settings: Settings, mailer: Mailer | None = None) -> BotMailFactory:
    """Replies to review mail and unsubscribe requests, acted on; notices go out through `mailer`."""

    def make(store: Callable[[], Store]) -> BotMailFilter:
        from bot.review.replies import BotMail

        return BotMail(store, settings, mailer=mailer)

    return make


def poll_list(settings: Settings, *, mailer: Mailer | None = None, **options: Any) -> PollReport:
    """`bot.imap.poll.poll`, with the bot's own mail taken out and acted on (default mailer: [smtp])."""
    return poll(settings, bot_mail=bot_mail_filter(settings, mailer), **options)
