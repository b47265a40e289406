"""Review tokens already acted on: each approves, rejects or edits once."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from bot.store.access import Access
from bot.store.tables import used_tokens


class Tokens(Access):
    """`used_tokens`."""

    def used_by(self, token: str) -> str | None:
        """The Message-ID of the reply that used `token`; None if it is unused."""
        with self.reading() as conn:
            row = conn.execute(sa.select(used_tokens.c.message_id).where(used_tokens.c.token == token)).first()
        return None if row is None else str(row[0])

    def use(self, token: str, message_id: str, at: datetime) -> None:
        """Record `token` as used by the reply `message_id`; StoreConflict if it was used already."""
        with self.writing() as conn:
            conn.execute(used_tokens.insert().values(token=token, used_at=at, message_id=message_id))
