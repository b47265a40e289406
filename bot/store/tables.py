"""The store's tables, as SQLAlchemy Core sees them, and the migrations between schema versions."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

meta = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
messages = sa.Table(
    "messages", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("message_id", sa.String(998), nullable=False, unique=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, default="new"),  # new | parsed | flagged
    sa.Column("flags", sa.Text, nullable=False, default=""),  # space-separated
    sa.Column("date", sa.DateTime(timezone=True), index=True),
    sa.Column("subject", sa.Text),
    sa.Column("from_name", sa.Text),
    sa.Column("from_addr", sa.Text),
    sa.Column("in_reply_to", sa.Text),
    sa.Column("refs", sa.Text),  # space-separated Message-IDs
    sa.Column("body", sa.Text),
    sa.Column("attachments", sa.Text),  # JSON list of file names
)
# Messages by state: "what is still unparsed" after every import and poll, and the
# counts `status` shows, without scanning the (large) messages table.
state_index = sa.Index("ix_messages_state", messages.c.state)
message_raw = sa.Table(
    "message_raw", metadata,
    sa.Column("message_pk", sa.Integer, sa.ForeignKey("messages.id"), primary_key=True),
    sa.Column("raw", sa.LargeBinary, nullable=False),
)
sync_state = sa.Table(
    "sync_state", metadata,
    sa.Column("folder", sa.String(512), primary_key=True),
    sa.Column("uidvalidity", sa.BigInteger),
    sa.Column("last_uid", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_poll_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
)
digests = sa.Table(
    "digests", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False, default=1),
    sa.Column("mail_message_id", sa.String(998), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reminded_at", sa.DateTime(timezone=True)),
    sa.Column("superseded_by", sa.Integer),
    sa.Index("ix_digests_period", "period_start", "period_end"),
)
digest_revisions = sa.Table(
    "digest_revisions", metadata,
    sa.Column("digest_id", sa.Integer, sa.ForeignKey("digests.id"), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("markdown", sa.Text, nullable=False),  # the editable source
    sa.Column("data", sa.Text, nullable=False),  # the digest as JSON
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
)
transitions = sa.Table(
    "transitions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("digest_id", sa.Integer, sa.ForeignKey("digests.id"), nullable=False, index=True),
    sa.Column("from_state", sa.String(24)),
    sa.Column("to_state", sa.String(24), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("via", sa.String(16), nullable=False),  # cli | email | scheduler
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
)
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("digest_id", sa.Integer, sa.ForeignKey("digests.id"), primary_key=True),
    sa.Column("recipient", sa.String(512), primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | sending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
subscribers = sa.Table(
    "subscribers", metadata,
    sa.Column("address", sa.String(512), primary_key=True),
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("changed_via", sa.String(16), nullable=False, default="cli"),
)
used_tokens = sa.Table(
    "used_tokens", metadata,
    sa.Column("token", sa.String(128), primary_key=True),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    # The reply that used it: the same reply polled twice is not a replay.
    sa.Column("message_id", sa.String(998), nullable=False, default=""),
)

# Later schema versions append a function here: it gets a connection at
# version N-1 and leaves the schema at version N.
MIGRATIONS: list[Any] = [
    lambda conn: state_index.create(conn, checkfirst=True),  # 2: ix_messages_state
]
