"""A store as digestbot wrote it at schema version 2 (commit 92a31ee), for tests of the migrations.

The DDL is bot/store_write.py's SCHEMA_SQL of that commit, copied verbatim: a
store at version 2 had exactly these tables, and keyed its messages by that
version's rule (any Message-ID without a space; :func:`version_2_key`).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

VERSION_2_SCHEMA_SQL = (
    'CREATE TABLE meta (\n\t"key" VARCHAR(64) NOT NULL, \n\tvalue TEXT NOT NULL, \n\tPRIMARY KEY ("key")\n)',
    "CREATE TABLE messages (\n\tid INTEGER NOT NULL, \n\tmessage_id VARCHAR(998) NOT NULL, \n\t"
    "sha256 VARCHAR(64) NOT NULL, \n\tsize INTEGER NOT NULL, \n\torigin TEXT NOT NULL, \n\t"
    "imported_at DATETIME NOT NULL, \n\tstate VARCHAR(16) NOT NULL, \n\tflags TEXT NOT NULL, \n\t"
    "date DATETIME, \n\tsubject TEXT, \n\tfrom_name TEXT, \n\tfrom_addr TEXT, \n\tin_reply_to TEXT, \n\t"
    "refs TEXT, \n\tbody TEXT, \n\tattachments TEXT, \n\tPRIMARY KEY (id), \n\tUNIQUE (message_id)\n)",
    "CREATE INDEX ix_messages_state ON messages (state)",
    "CREATE INDEX ix_messages_date ON messages (date)",
    "CREATE TABLE sync_state (\n\tfolder VARCHAR(512) NOT NULL, \n\tuidvalidity BIGINT, \n\t"
    "last_uid BIGINT NOT NULL, \n\tlast_poll_at DATETIME, \n\tlast_error TEXT, \n\tPRIMARY KEY (folder)\n)",
    "CREATE TABLE digests (\n\tid INTEGER NOT NULL, \n\tperiod_start DATETIME NOT NULL, \n\t"
    "period_end DATETIME NOT NULL, \n\tstate VARCHAR(24) NOT NULL, \n\trevision INTEGER NOT NULL, \n\t"
    "mail_message_id VARCHAR(998) NOT NULL, \n\tcreated_at DATETIME NOT NULL, \n\t"
    "updated_at DATETIME NOT NULL, \n\treminded_at DATETIME, \n\tsuperseded_by INTEGER, \n\tPRIMARY KEY (id)\n)",
    "CREATE INDEX ix_digests_period ON digests (period_start, period_end)",
    "CREATE TABLE subscribers (\n\taddress VARCHAR(512) NOT NULL, \n\tname TEXT NOT NULL, \n\t"
    "active BOOLEAN NOT NULL, \n\tchanged_at DATETIME NOT NULL, \n\tchanged_via VARCHAR(16) NOT NULL, \n\t"
    "PRIMARY KEY (address)\n)",
    "CREATE TABLE used_tokens (\n\ttoken VARCHAR(128) NOT NULL, \n\tused_at DATETIME NOT NULL, \n\t"
    "message_id VARCHAR(998) NOT NULL, \n\tPRIMARY KEY (token)\n)",
    "CREATE TABLE message_raw (\n\tmessage_pk INTEGER NOT NULL, \n\traw BLOB NOT NULL, \n\t"
    "PRIMARY KEY (message_pk), \n\tFOREIGN KEY(message_pk) REFERENCES messages (id)\n)",
    "CREATE TABLE digest_revisions (\n\tdigest_id INTEGER NOT NULL, \n\trevision INTEGER NOT NULL, \n\t"
    "subject TEXT NOT NULL, \n\tmarkdown TEXT NOT NULL, \n\tdata TEXT NOT NULL, \n\t"
    "created_at DATETIME NOT NULL, \n\tcreated_by TEXT NOT NULL, \n\tPRIMARY KEY (digest_id, revision), \n\t"
    "FOREIGN KEY(digest_id) REFERENCES digests (id)\n)",
    "CREATE TABLE transitions (\n\tid INTEGER NOT NULL, \n\tdigest_id INTEGER NOT NULL, \n\t"
    "from_state VARCHAR(24), \n\tto_state VARCHAR(24) NOT NULL, \n\tactor TEXT NOT NULL, \n\t"
    "via VARCHAR(16) NOT NULL, \n\tat DATETIME NOT NULL, \n\tnote TEXT NOT NULL, \n\tPRIMARY KEY (id), \n\t"
    "FOREIGN KEY(digest_id) REFERENCES digests (id)\n)",
    "CREATE INDEX ix_transitions_digest_id ON transitions (digest_id)",
    "CREATE TABLE deliveries (\n\tdigest_id INTEGER NOT NULL, \n\trecipient VARCHAR(512) NOT NULL, \n\t"
    "revision INTEGER NOT NULL, \n\tstate VARCHAR(16) NOT NULL, \n\tattempts INTEGER NOT NULL, \n\t"
    "last_error TEXT, \n\tupdated_at DATETIME NOT NULL, \n\tPRIMARY KEY (digest_id, recipient), \n\t"
    "FOREIGN KEY(digest_id) REFERENCES digests (id)\n)",
)


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_ANGLE_ID = re.compile(rb"<([^<>\s]{1,900})>")


def version_2_key(raw: bytes) -> str:
    """The key version 2 stored `raw` under (its message_id_of, as it was)."""
    ends = [e for e in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if e >= 0]
    head = raw[: min(ends)] if ends else raw[:65536]
    folded = head.lower()
    start = folded.find(b"message-id:")
    while start > 0 and head[start - 1] != 0x0A:
        start = folded.find(b"message-id:", start + 1)
    match = _MESSAGE_ID.match(head, start) if start >= 0 else None
    if match:
        angle = _ANGLE_ID.search(match.group(1))
        value = angle.group(1) if angle else match.group(1).strip()
        if value and len(value) < 900 and b" " not in value:
            return "<" + value.decode("ascii", "replace") + ">"
    return f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@digestbot.invalid>"


def make_version_2_store(path: Path, raws: list[bytes], keys: list[str] | None = None) -> list[int]:
    """A version-2 store at `path` holding `raws` (under `keys`, or each one's version-2 key); their pks."""
    stamp = datetime(2014, 8, 18, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(path) as conn:
        for statement in VERSION_2_SCHEMA_SQL:
            conn.execute(statement)
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '2')")
        pks = []
        for raw, key in zip(raws, keys or [version_2_key(r) for r in raws], strict=True):
            cursor = conn.execute(
                "INSERT INTO messages (message_id, sha256, size, origin, imported_at, state, flags) "
                "VALUES (?, ?, ?, 'test', ?, 'new', '')", (key, hashlib.sha256(raw).hexdigest(), len(raw), stamp))
            assert cursor.lastrowid is not None
            pks.append(cursor.lastrowid)
            conn.execute("INSERT INTO message_raw (message_pk, raw) VALUES (?, ?)", (cursor.lastrowid, raw))
    conn.close()
    return pks
