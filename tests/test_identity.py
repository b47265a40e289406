"""Message identity (issue 12, item 5): no distinct message is lost, no copy is stored twice."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bot.model import RawMail
from bot.store.database import open_store
from bot.store.identity import (
    content_key,
    derived_key,
    derived_keys,
    fingerprint,
    header_message_id,
    identify,
    message_id_of,
    place,
)
from tests.helpers.mailfactory import make_raw, mbox_of

SCRIPT = str(Path(sys.executable).parent / "digestbot")


def _lone(body: str) -> bytes:
    return f"From: x@example.org\nSubject: s\nMessage-ID:>\n\n{body}\n".encode()


def test_malformed_message_ids_mean_a_content_key() -> None:
    for header in (b"", b"Message-ID:", b"Message-ID: ", b"Message-ID:>", b"Message-ID: <>", b"Message-ID: <abc>",
                   b"Message-ID: a b@c", b"Message-ID: <a@b"):
        raw = header + b"\nSubject: s\n\nbody\n"
        assert header_message_id(raw.partition(b"\n\n")[0]) is None, header
        assert message_id_of(raw) == content_key(raw)
    assert message_id_of(b"Message-ID: <a@b>\n\nx") == "<a@b>"
    assert message_id_of(b"Message-ID: a@b\n\nx") == "<a@b>"
    assert len({message_id_of(_lone(body)) for body in ("one", "two", "three")}) == 3


def test_a_cross_post_relayed_by_two_lists_is_one_message() -> None:
    """Each list tags the subject its own way and appends its own footer; the author wrote one message."""
    raw = make_raw(1, subject="[ANN] driftwood-net 0.9.1 released", body="It is out.\n")
    devel = raw.replace(b"Subject: [ANN]", b"Subject: [driftwood-devel] [ANN]").replace(
        b"It is out.\n", b"It is out.\n_______________________________________________\n"
                         b"driftwood-devel mailing list\nhttps://lists.example.org/listinfo/driftwood-devel\n")
    assert devel != raw and fingerprint(devel) == fingerprint(raw)
    patch = make_raw(1, subject="[PATCH v2 1/3] net: fix it", body="It is out.\n")
    assert fingerprint(patch) != fingerprint(make_raw(1, subject="[PATCH v3 1/3] net: fix it", body="It is out.\n"))


def test_the_fingerprint_ignores_transport_headers_and_whitespace() -> None:
    raw = make_raw(1, body="Hello  list.\n")
    relayed = (b"Received: from a by b; Mon, 18 Aug 2014 09:00:01 +0000\nReturn-Path: <x@y>\n"
               b"List-Id: <dev.lists.example.org>\n" + raw.replace(b"\n", b"\r\n") + b"\r\n\r\n")
    assert fingerprint(relayed) == fingerprint(raw)
    for other in (make_raw(1, body="Hello list!\n"), make_raw(1, subject="Other", body="Hello  list.\n"),
                  make_raw(1, sender="Bob <bob@example.org>", body="Hello  list.\n"),
                  make_raw(1, when=datetime(2014, 8, 19, tzinfo=UTC), body="Hello  list.\n")):
        assert fingerprint(other) != fingerprint(raw)
    assert fingerprint(make_raw(1, body="a\nb")) == fingerprint(make_raw(1, body="a  b"))


@given(st.lists(st.tuples(st.sampled_from(["<a@x>", "<b@x>", "", ">"]), st.sampled_from(["p", "q", "r"])),
                max_size=12),
       st.data())
def test_placing_is_one_key_per_distinct_message_and_the_same_again(mails: list[tuple[str, str]],
                                                                    data: st.DataObject) -> None:
    raws = [f"Message-ID: {mid}\nSubject: s\n\n{body}\n".encode() for mid, body in mails]
    identities = [identify(raw) for raw in raws]
    placed = place(identities, {})
    distinct = {(i.header_id or i.key, i.fingerprint) for i in identities}
    assert len(placed) == len({p.key for p in placed}) == len(distinct)
    # Stored in any split into batches, then imported again: every message is found under the key it got.
    stored: dict[str, tuple[int, str | None]] = {}
    cut = data.draw(st.integers(0, len(raws)))
    for batch in (identities[:cut], identities[cut:]):
        for spot in place(batch, stored):
            if spot.pk is None:
                stored[spot.key] = (len(stored) + 1, spot.fingerprint)
    assert sorted(stored) == sorted(p.key for p in placed)
    again = place(identities, stored)
    assert all(spot.pk is not None for spot in again) and {s.key for s in again} == set(stored)
    for spot in again:
        if spot.header_id is not None:
            assert spot.key == derived_key(spot.header_id, spot.fingerprint) != spot.header_id


@given(st.lists(st.tuples(st.sampled_from(["<a@x>", "<b@x>", "", ">"]), st.sampled_from(["p", "q", "r"])),
                max_size=12),
       st.lists(st.tuples(st.sampled_from(["<a@x>", "<b@x>", "", ">"]), st.sampled_from(["p", "q", "r"]),
                          st.booleans(), st.booleans()), max_size=8))
def test_looking_up_derived_keys_only_for_taken_keys_places_as_looking_up_all(
        mails: list[tuple[str, str]], rows: list[tuple[str, str, bool, bool]]) -> None:
    # A store holding any mix of rows under own keys and derived keys, some without a fingerprint (older rows).
    stored: dict[str, tuple[int, str | None]] = {}
    for mid, body, derived, unprinted in rows:
        row = identify(f"Message-ID: {mid}\nSubject: s\n\n{body}\n".encode())
        key = row.keys[-1] if derived else row.key
        stored.setdefault(key, (len(stored) + 1, None if unprinted else row.fingerprint))
    batch = [identify(f"Message-ID: {mid}\nSubject: s\n\n{body}\n".encode()) for mid, body in mails]
    every_key = {key: stored[key] for i in batch for key in i.keys if key in stored}
    own = {i.key: stored[i.key] for i in batch if i.key in stored}
    lookups = derived_keys(batch, own)
    assert len(lookups) <= sum(1 for i in batch if i.header_id is not None)
    two_steps = own | {key: stored[key] for key in lookups if key in stored}
    assert place(batch, two_steps) == place(batch, every_key)


def test_both_stores_keep_a_second_message_with_a_taken_id(tmp_path: Path) -> None:
    first, second = make_raw(1, body="first\n"), make_raw(1, body="second\n")
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    [a] = store.add_raw([RawMail(first, "t")])
    [b] = store.add_raw([RawMail(second, "t")])
    assert a.new and b.new and a.message_id == "<1@test.example>" != b.message_id
    assert [s.new for s in store.add_raw([RawMail(second, "t"), RawMail(first, "t")])] == [False, False]
    assert store.collisions() == 1
    store.close()


def _digestbot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DIGESTBOT_CONFIG"}
    return subprocess.run([SCRIPT, "--config", str(cwd / "digestbot.toml"), *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_an_import_keeps_every_distinct_message_and_no_copy_twice(tmp_path: Path) -> None:
    (tmp_path / "digestbot.toml").write_text('[list]\nname = "dev"\naddress = "dev@lists.example.org"\n'
                                             '[store]\npath = "store.sqlite3"\n', encoding="utf-8")
    lone = [_lone(f"message number {n}") for n in range(3)]  # three different mails with "Message-ID:>"
    shared = [make_raw(7, body="one text\n"), make_raw(7, subject="Other", body="another text\n")]
    copy = make_raw(9, body="one message\n")
    copies = [b"Received: from a.example by b.example; Mon, 18 Aug 2014 10:00:00 +0000\n" + copy,
              b"Received: from c.example by d.example; Mon, 18 Aug 2014 11:00:00 +0000\n" + copy]
    (tmp_path / "all.mbox").write_bytes(mbox_of([*lone, *shared, *copies]))

    result = _digestbot("import", str(tmp_path / "all.mbox"), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "7 read, 6 new, 1 already stored" in result.stdout
    with sqlite3.connect(tmp_path / "store.sqlite3") as conn:
        rows = conn.execute("SELECT message_id, header_id, subject FROM messages ORDER BY id").fetchall()
    assert len(rows) == 3 + 2 + 1
    assert [r[0] for r in rows[3:5]] == ["<7@test.example>", derived_key("<7@test.example>", fingerprint(shared[1]))]
    assert rows[4][1] == "<7@test.example>"
    status = _digestbot("status", "--format", "json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["collisions"] == 1
    assert "1 sharing a Message-ID" in _digestbot("status", cwd=tmp_path).stdout


def test_an_authors_own_subject_marker_counts_and_a_list_tag_does_not() -> None:
    """"[PATCH] x" and "[RFC] x" are two messages; "[dev] [RFC] x" is "[RFC] x" relayed by list dev."""
    patch, rfc = (make_raw(1, subject=f"[{tag}] net: fix the timer", body="Same.\n") for tag in ("PATCH", "RFC"))
    assert fingerprint(patch) != fingerprint(rfc)
    for marker in ("ANN", "VOTE", "Patch"):
        assert fingerprint(make_raw(1, subject=f"[{marker}] x", body="b\n")) != fingerprint(make_raw(1, subject="x",
                                                                                                   body="b\n"))
    assert fingerprint(make_raw(1, subject="[dev] [RFC] net: fix the timer", body="Same.\n")) == fingerprint(rfc)


def test_only_a_short_last_block_after_underscores_is_a_list_footer() -> None:
    rule = "_" * 32 + "\n"
    quoted = "".join(f"> line {n} of the original\n" for n in range(12))

    def reply(text: str, original: str) -> bytes:  # Outlook: the reply, its line, the quoted original
        return make_raw(1, body=f"{text}\n{rule}From: Ann\n{original}")

    # The same reply text over two different originals: two messages, not one.
    assert fingerprint(reply("Agreed.", quoted)) != fingerprint(reply("Agreed.", quoted.replace("4", "5")))
    footer = f"{rule}dev mailing list\ndev@lists.example.org\nhttps://lists.example.org/listinfo/dev\n"
    relayed = reply("Agreed.", quoted) + footer.encode()
    assert fingerprint(relayed) == fingerprint(reply("Agreed.", quoted))  # the footer after it still goes
    assert fingerprint(make_raw(1, body="a\n" + footer)) == fingerprint(make_raw(1, body="a\n"))


def test_a_store_fingerprinted_by_the_old_rule_is_refingerprinted_so_a_reimport_adds_nothing(tmp_path: Path) -> None:
    """Version 6 stripped every one-word subject tag and cut at the first line of underscores."""
    patch = make_raw(1, subject="[PATCH] net: fix the timer", body="Fix.\n")
    old_rule = fingerprint(make_raw(1, subject="net: fix the timer", body="Fix.\n"))
    path = tmp_path / "store.sqlite3"
    store = open_store(f"sqlite:///{path}")
    store.add_raw([RawMail(patch, "t")])
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE messages SET fingerprint = ?", (old_rule,))
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    conn.close()
    store = open_store(f"sqlite:///{path}")
    [again] = store.add_raw([RawMail(patch, "t")])
    assert not again.new and store.counts()["messages"] == 1 and store.collisions() == 0
    store.close()
