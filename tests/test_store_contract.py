"""The store's contract, run against every backend: SQLite (a file) and a real PostgreSQL.

The same test functions run on both, as APScheduler's job-store tests do: what
one database returns, the other must return too. They go through the Store's
methods and the public functions of review and delivery, never their SQL.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.delivery.send import send_approved
from bot.errors import ConfigError, ReviewError, StoreError
from bot.model import Mail, RawMail
from bot.review import lifecycle, roster
from bot.review.view import drafts_data
from bot.settings import Settings, load_settings, with_store
from bot.store.database import Store, open_store
from bot.store.schema import SCHEMA_VERSION
from bot.store.syncstate import StoreSyncState
from bot.store.tables import schedule_runs, subscribers
from tests.helpers.mailfactory import make_raw
from tests.helpers.reviewkit import CHAIR, END, LIST, START, make_digest, settings_for
from tests.helpers.smtp_server import SmtpServer

BACKENDS = ["sqlite", "postgresql"]
T0 = datetime(2014, 8, 18, 9, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture()
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.engine.dispose()


def raw(n: int) -> RawMail:
    return RawMail(make_raw(n), f"test:{n}")


def mail(n: int, date: datetime, *, flags: frozenset[str] = frozenset()) -> Mail:
    return Mail(message_id=f"<{n}@test.example>", subject=f"Subject {n} ✓", from_name="Ann Example",
                from_addr="ann@example.org", date=date, in_reply_to=f"<{n - 1}@test.example>" if n > 1 else None,
                references=(f"<{n - 1}@test.example>",) if n > 1 else (), body=f"Body {n}\n\nwith ünïcode",
                attachments=("patch.diff",) if n % 2 else (), flags=flags)


def stored_parsed(store: Store, dates: dict[int, datetime]) -> dict[int, int]:
    """Messages n (Message-ID <n@test.example>) stored and parsed with the given dates; n -> pk."""
    pks = {int(s.message_id[1:].partition("@")[0]): s.pk for s in store.add_raw([raw(n) for n in dates])}
    store.save_parsed((pks[n], mail(n, date)) for n, date in dates.items())
    return pks


# -- messages ------------------------------------------------------------------


def test_a_new_store_is_empty_and_reopens_as_it_is(store_url: str, store: Store) -> None:
    assert store.counts() == {"messages": 0, "parsed": 0, "flagged": 0, "unparsed": 0}
    assert store.unparsed() == [] and store.flagged() == [] and store.mails_by_ids([]) == []
    assert store.integrity() in ("ok", "n/a")
    again = open_store(store_url)
    assert again.counts()["messages"] == 0
    again.engine.dispose()


def test_add_raw_keeps_one_copy_in_and_across_batches(store: Store) -> None:
    first = store.add_raw([raw(1), raw(2), raw(1)])
    assert [(s.message_id, s.new) for s in first] == [("<1@test.example>", True), ("<2@test.example>", True)]
    assert first[0].raw == make_raw(1) and first[0].pk != first[1].pk
    second = store.add_raw([raw(2), raw(3), raw(3)])
    assert [(s.message_id, s.new) for s in second] == [("<2@test.example>", False), ("<3@test.example>", True)]
    assert second[0].pk == first[1].pk  # the known message keeps its key
    assert store.add_raw([]) == []
    pks = [first[0].pk, first[1].pk, second[1].pk]
    assert store.unparsed() == sorted(pks)
    assert dict(store.raw_of(pks)) == {pks[0]: make_raw(1), pks[1]: make_raw(2), pks[2]: make_raw(3)}
    assert store.counts() == {"messages": 3, "parsed": 0, "flagged": 0, "unparsed": 3}


def test_raw_bytes_come_back_exactly(store: Store) -> None:
    odd = RawMail(b"Message-ID: <bin@test.example>\r\n\r\n\x00\xff\xfe binary \r\n" + bytes(range(256)), "test:bin")
    [stored] = store.add_raw([odd])
    assert dict(store.raw_of([stored.pk])) == {stored.pk: odd.raw}
    many = store.add_raw([raw(n) for n in range(10, 620)])  # more keys than one query's chunk
    assert len(dict(store.raw_of([s.pk for s in many]))) == 610


def test_save_parsed_counts_and_flagged(store: Store) -> None:
    pks = {s.message_id: s.pk for s in store.add_raw([raw(n) for n in range(1, 6)])}
    store.save_parsed([(pks["<1@test.example>"], mail(1, T0)), (pks["<2@test.example>"], mail(2, T0))])
    store.save_parsed([(pks[f"<{n}@test.example>"], mail(n, T0, flags=frozenset({"no-date", "unparsable"})))
                       for n in (3, 4)])
    store.save_parsed([])
    assert store.unparsed() == [pks["<5@test.example>"]]
    assert store.counts() == {"messages": 5, "parsed": 2, "flagged": 2, "unparsed": 1}
    assert store.flagged() == [("<3@test.example>", "test:3", "no-date unparsable"),
                               ("<4@test.example>", "test:4", "no-date unparsable")]
    assert store.flagged(limit=1) == [("<3@test.example>", "test:3", "no-date unparsable")]


def test_mails_come_back_as_they_were_saved(store: Store) -> None:
    stored_parsed(store, {1: T0, 2: T0 + timedelta(hours=1)})
    got = store.mails_by_ids(["<1@test.example>", "<2@test.example>"])
    assert sorted(got, key=lambda m: m.message_id) == [mail(1, T0), mail(2, T0 + timedelta(hours=1))]
    assert all(m.date.utcoffset() == timedelta(0) for m in got)  # UTC, whatever the server's time zone


def test_nul_in_text_is_stored_on_every_backend(store: Store, settings: Settings) -> None:
    """PostgreSQL text cannot hold NUL: it comes back as a space there, which is what rendering makes of it."""
    [stored] = store.add_raw([raw(1)])
    body = "nul \x00\x00 body"
    store.save_parsed([(stored.pk, Mail("<1@test.example>", "s\x00", "Ann", "ann@example.org", T0, body=body))])
    [back] = store.mails_by_ids(["<1@test.example>"])
    assert (back.subject, back.body) in (("s\x00", body), ("s ", body.replace("\x00", " ")))
    info = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    assert lifecycle.reject(store, info.id, CHAIR, "email", "spam\x00here").state == "rejected"
    assert lifecycle.history(store, info.id)[-1].note in ("spam\x00here", "spam here")


def test_mails_between_bounds_and_time_zones(store: Store) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    dates = {1: T0, 2: T0 + timedelta(hours=1), 3: datetime(2014, 8, 18, 12, 0, tzinfo=berlin),  # 10:00 UTC
             4: T0 + timedelta(days=1), 5: T0 - timedelta(microseconds=1)}
    stored_parsed(store, dates)
    store.add_raw([raw(6)])  # stored, not parsed: never read as mail
    window = store.mails_between(T0, T0 + timedelta(days=1))  # [start, end)
    assert [m.message_id for m in window] == ["<1@test.example>", "<2@test.example>", "<3@test.example>"]
    assert window[2].date == dates[3] and window[2].date.utcoffset() == timedelta(0)
    in_berlin = store.mails_between(T0.astimezone(berlin), (T0 + timedelta(days=1)).astimezone(berlin))
    assert in_berlin == window
    assert [m.message_id for m in store.mails_between(T0 - timedelta(days=1), T0)] == ["<5@test.example>"]
    assert store.mails_between(T0 + timedelta(days=2), T0 + timedelta(days=3)) == []


def test_same_date_is_ordered_by_arrival(store: Store) -> None:
    stored_parsed(store, {3: T0, 1: T0, 2: T0 - timedelta(seconds=1)})
    assert [m.message_id for m in store.mails_between(T0 - timedelta(days=1), T0 + timedelta(days=1))] == [
        "<2@test.example>", "<3@test.example>", "<1@test.example>"]


def test_mails_by_ids_in_chunks(store: Store) -> None:
    stored_parsed(store, {n: T0 + timedelta(minutes=n) for n in range(1, 621)})
    wanted = [f"<{n}@test.example>" for n in range(620, 0, -1)] + ["<1@test.example>", "<nowhere@example.org>"]
    got = store.mails_by_ids(wanted)
    assert len(got) == 620 and {m.message_id for m in got} == set(wanted[:-1])


# -- sync state ----------------------------------------------------------------


def test_sync_state_remembers_each_folder(store: Store) -> None:
    state = StoreSyncState(store)
    assert state.ready() and state.get("INBOX") is None and state.all() == [] and not state.unparsed()
    state.failed("Lists/dev", "connection reset")  # a first error starts the folder at 0
    state.progress("INBOX", 1700000000, 4000000000)  # UIDs are unsigned 32-bit: beyond INTEGER
    before = datetime.now(UTC)
    state.polled("INBOX", 1700000000, 4000000001)
    inbox = state.get("INBOX")
    assert inbox is not None and (inbox.uidvalidity, inbox.last_uid, inbox.last_error) == (1700000000, 4000000001, None)
    assert inbox.last_poll_at is not None and inbox.last_poll_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= inbox.last_poll_at <= datetime.now(UTC) + timedelta(seconds=1)
    state.failed("INBOX", "timeout")
    again = state.get("INBOX")
    assert again is not None and (again.last_uid, again.last_error, again.last_poll_at) == (
        4000000001, "timeout", inbox.last_poll_at)
    assert [(s.folder, s.last_uid, s.last_error) for s in state.all()] == [
        ("INBOX", 4000000001, "timeout"), ("Lists/dev", 0, "connection reset")]
    store.add_raw([raw(1)])
    assert state.unparsed()
    state.close()


# -- review --------------------------------------------------------------------


@pytest.fixture()
def settings(tmp_path: Path, store_url: str) -> Settings:
    return with_store(settings_for(tmp_path, None), store_url)


def test_review_lifecycle_revisions_and_history(store: Store, settings: Settings) -> None:
    info = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    assert (info.revision, info.state, info.superseded) == (1, "drafted", ())
    draft = lifecycle.get(store, info.id)
    assert (draft.period_start, draft.period_end) == (START, END)
    assert draft.period_start.utcoffset() == timedelta(0) and draft.created_at.utcoffset() == timedelta(0)
    assert draft.mail_message_id.startswith("<digest-20140818-") and draft.reminded_at is None
    lifecycle.transition(store, info.id, "awaiting", "digestbot", "scheduler")
    first = lifecycle.revision(store, info.id)
    assert "Conduit merge" in first.parts.markdown and not first.edited and first.digest
    markdown = first.parts.markdown.replace("Conduit merge", "Conduit merge (edited) ✓")
    assert lifecycle.edit(store, info.id, markdown, CHAIR, "email").state == "drafted"
    second = lifecycle.revision(store, info.id)
    assert (second.revision, second.edited, second.created_by) == (2, True, CHAIR)
    assert "Conduit merge (edited) ✓" in second.parts.text and second.digest == first.digest
    assert lifecycle.revision(store, info.id, 1).parts == first.parts  # an edit never overwrites
    with pytest.raises(ReviewError, match="is at revision 2, not 1"):
        lifecycle.approve(store, info.id, CHAIR, "email", revision_seen=1)
    approved = lifecycle.approve(store, info.id, CHAIR, "email", revision_seen=2)
    assert (approved.state, approved.revision) == ("approved", 2)
    with pytest.raises(ReviewError, match="already approved"):
        lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    with pytest.raises(ReviewError, match="needs a reason"):
        lifecycle.reject(store, info.id, CHAIR, "cli", "  ")
    assert lifecycle.reject(store, info.id, CHAIR, "cli", "too  thin\nthis week").state == "rejected"
    with pytest.raises(ReviewError, match="cannot become approved"):
        lifecycle.approve(store, info.id, CHAIR, "cli")
    steps = [(t.from_state, t.to_state, t.actor, t.via, t.note) for t in lifecycle.history(store, info.id)]
    assert steps == [(None, "drafted", "ann", "cli", "revision 1"),
                     ("drafted", "awaiting", "digestbot", "scheduler", ""),
                     ("awaiting", "drafted", CHAIR, "email", "edited: revision 2"),
                     ("drafted", "approved", CHAIR, "email", "revision 2"),
                     ("approved", "rejected", CHAIR, "cli", "too thin this week")]
    assert all(t.at.utcoffset() == timedelta(0) for t in lifecycle.history(store))


def test_a_new_draft_supersedes_open_ones_of_its_period(store: Store, settings: Settings) -> None:
    old = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    other = lifecycle.store_draft(store, settings, make_digest(START + timedelta(days=7), END + timedelta(days=7)),
                                  "ann", "cli")
    new = lifecycle.store_draft(store, settings, make_digest(), "bob", "scheduler")
    assert new.superseded == (old.id,) and new.id not in (old.id, other.id)
    assert (lifecycle.get(store, old.id).state, lifecycle.get(store, old.id).superseded_by) == ("superseded", new.id)
    assert [d.id for d in lifecycle.drafts(store, ("drafted",))] == [new.id, other.id]  # by period
    assert [d.id for d in lifecycle.drafts(store)] == [old.id, new.id, other.id]
    period = drafts_data(store)[0]["period"]
    assert period == "2014-08-18..2014-08-24"


# -- subscribers and delivery --------------------------------------------------


def test_subscribers_join_leave_and_come_back(store: Store) -> None:
    assert roster.add(store, "Ann Example <Ann@Example.org>") is True
    assert roster.add(store, "ann@example.org") is False  # already active, no new name
    assert roster.add(store, "bob@example.net", "Bob") is True
    assert roster.remove(store, "bob@example.net") is True and roster.remove(store, "bob@example.net") is False
    assert [m.display for m in roster.members(store)] == ["Ann Example <ann@example.org>"]
    everyone = roster.members(store, include_inactive=True)
    assert [(m.address, m.name, m.active, m.changed_via) for m in everyone] == [
        ("ann@example.org", "Ann Example", True, "cli"), ("bob@example.net", "Bob", False, "cli")]
    assert all(abs(m.changed_at - datetime.now(UTC)) < timedelta(minutes=1) for m in everyone)
    with pytest.raises(ConfigError, match="not an email address"):  # longer than SMTP allows, or a column holds
        roster.add(store, "a" * 600 + "@example.org")
    assert roster.add(store, "bob@example.net", via="email") is True  # back, keeping the name
    assert [(m.address, m.name, m.changed_via) for m in roster.members(store)][-1] == (
        "bob@example.net", "Bob", "email")


def test_delivery_to_the_list_is_recorded_once(store: Store, tmp_path: Path, store_url: str,
                                               smtp_server: SmtpServer, review_secret: str) -> None:
    settings = with_store(settings_for(tmp_path, smtp_server), store_url)
    info = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, info.id, CHAIR, "cli")
    assert send_approved(store, settings).lines()[0].endswith("sent to 1 of 1 (done)")
    assert [got.rcpt_tos for got in smtp_server.received] == [(LIST,)]
    [row] = drafts_data(store)
    assert row["state"] == "sent" and row["transitions"][-1]["note"] == "1 sent"
    assert [(d["recipient"], d["state"], d["attempts"], d["revision"]) for d in row["deliveries"]] == [
        (LIST, "sent", 1, 1)]
    assert send_approved(store, settings).lines() == ["nothing to send"] and len(smtp_server.received) == 1


def test_roster_delivery_records_each_outcome(store: Store, tmp_path: Path, store_url: str,
                                              smtp_server: SmtpServer, review_secret: str) -> None:
    settings = with_store(settings_for(tmp_path, smtp_server, mode="roster"), store_url)
    for address in ("ann@example.org", "bob@example.net", "carla@example.com"):
        roster.add(store, address)
    smtp_server.handler.rcpt_replies["bob@example.net"] = "550 no such user"
    smtp_server.handler.rcpt_replies["carla@example.com"] = "451 try later"
    info = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    lifecycle.approve(store, info.id, CHAIR, "cli")
    line = send_approved(store, settings).lines()[0]
    assert "sent to 1 of 3" in line and "1 deferred" in line and "1 failed" in line and "(not finished)" in line
    ledger = {d["recipient"]: (d["state"], d["attempts"]) for d in drafts_data(store)[0]["deliveries"]}
    assert ledger == {"ann@example.org": ("sent", 1), "bob@example.net": ("failed", 1),
                      "carla@example.com": ("deferred", 1)}
    del smtp_server.handler.rcpt_replies["carla@example.com"]
    assert "1 waiting to retry" in send_approved(store, settings).lines()[0]  # backoff: not yet
    later = datetime.now(UTC) + timedelta(hours=1)
    assert send_approved(store, settings, at=later).lines()[0].endswith("(done)")
    [row] = drafts_data(store)
    assert row["state"] == "sent" and row["transitions"][-1]["note"] == "2 sent, 1 failed"
    assert smtp_server.recipients().count("carla@example.com") == 1


# -- the schedule --------------------------------------------------------------

YEARLY = ('[schedule]\ntimezone = "Europe/London"\npoll_minutes = 525600\ndraft_cron = "0 0 1 1 *"\n'
          'remind_cron = "0 0 1 1 *"\nsend_cron = "0 0 1 1 *"\nmisfire_grace_seconds = 0\n')


def test_the_schedule_runs_each_due_job_once(tmp_path: Path, store_url: str) -> None:
    """The schedule and what each job owes live in the store: a second pass finds the work done."""
    from bot.schedule.jobs import JOB_ORDER, JobRun
    from bot.schedule.runner import run

    config = tmp_path / "digestbot.toml"
    config.write_text(YEARLY, encoding="utf-8")
    settings = with_store(load_settings(config), store_url)
    ran: list[str] = []

    def job(name: str, due: JobRun) -> str:
        ran.append(name)
        return f"{name} done"

    jobs = {name: functools.partial(job, name) for name in JOB_ORDER}
    assert run(settings, once=True, jobs=jobs, now=datetime.now(UTC) - timedelta(days=400)) == []
    assert ran == []  # a first start only writes the schedule down
    assert run(settings, once=True, jobs=jobs) == []
    assert sorted(ran) == sorted(JOB_ORDER)  # yearly jobs, due once each since a year back
    assert run(settings, once=True, jobs=jobs) == [] and sorted(ran) == sorted(JOB_ORDER)


# -- schema --------------------------------------------------------------------


def _version(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.scalar(sa.text("SELECT value FROM meta WHERE key = 'schema_version'")))


# What digestbot 0.1 created (schema version 1); later versions only add to it.
V1_TABLES = {"meta", "messages", "message_raw", "sync_state", "digests", "digest_revisions", "transitions",
             "deliveries", "subscribers", "used_tokens"}
V1_MESSAGE_COLUMNS = {"id", "message_id", "sha256", "size", "origin", "imported_at", "state", "flags", "date",
                      "subject", "from_name", "from_addr", "in_reply_to", "refs", "body", "attachments"}


def _shape(store: Store) -> dict[str, tuple[list[str], list[str]]]:
    """Every table's columns and indexes, by name."""
    found = sa.inspect(store.engine)
    return {table: (sorted(c["name"] for c in found.get_columns(table)),
                    sorted(str(i["name"]) for i in found.get_indexes(table))) for table in found.get_table_names()}


def test_a_version_1_store_is_migrated_on_open(store_url: str, store: Store) -> None:
    current, fresh = _version(store), _shape(store)
    stored_parsed(store, {1: T0})
    with store.engine.begin() as conn:  # back to version 1, keeping its mail
        found = sa.inspect(conn)
        for table in set(found.get_table_names()) - V1_TABLES:
            conn.execute(sa.text(f'DROP TABLE "{table}"'))
        for column in {c["name"] for c in found.get_columns("messages")} - V1_MESSAGE_COLUMNS:
            conn.execute(sa.text(f'ALTER TABLE messages DROP COLUMN "{column}"'))
        conn.execute(sa.text("DROP INDEX ix_messages_state"))
        conn.execute(sa.text("UPDATE meta SET value = '1' WHERE key = 'schema_version'"))
    store.engine.dispose()
    migrated = open_store(store_url)
    assert (_version(migrated), _shape(migrated)) == (current, fresh)
    assert [m.message_id for m in migrated.mails_by_ids(["<1@test.example>"])] == ["<1@test.example>"]
    assert [s.new for s in migrated.add_raw([raw(1), raw(2)])] == [False, True]  # its mail is still known
    migrated.engine.dispose()


def test_a_newer_schema_is_refused(store_url: str, store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE meta SET value = '999' WHERE key = 'schema_version'"))
    store.engine.dispose()
    with pytest.raises(StoreError, match="newer than this digestbot"):
        open_store(store_url)


def test_a_message_id_used_twice_keeps_both_messages_and_threads_by_it(store: Store) -> None:
    first, other = RawMail(make_raw(1, body="first\n"), "a"), RawMail(make_raw(1, body="other\n"), "b")
    relayed = RawMail(b"Received: from relay.example by mx.example\n" + first.raw, "c")
    stored = store.add_raw([first, other, relayed])
    assert [s.new for s in stored] == [True, True]
    assert stored[0].message_id == "<1@test.example>" != stored[1].message_id
    assert [s.new for s in store.add_raw([other, relayed])] == [False, False]
    assert store.collisions() == 1
    parsed = [mail(1, T0), mail(2, T0 + timedelta(hours=1))]
    store.save_parsed([(stored[0].pk, parsed[0]), (stored[1].pk, parsed[1])])
    kept = store.mails_by_ids([stored[1].message_id])
    assert [(m.message_id, m.header_id, m.thread_id) for m in kept] == \
        [(stored[1].message_id, "<1@test.example>", "<1@test.example>")]


# -- lists: one store, many lists (schema version 6) -------------------------------------


def test_a_message_is_stored_once_and_belongs_to_each_list_it_came_from(store_url: str, store: Store) -> None:
    alpha, beta = store.for_list("alpha"), store.for_list("beta")
    first = alpha.add_raw([raw(1), raw(2)], ["alpha"])
    again = beta.add_raw([raw(2), raw(3)])  # None: the store's own list
    assert [s.new for s in again] == [False, True] and again[0].pk == first[1].pk  # stored once
    alpha.add_raw([raw(1)], ["alpha", "beta"])  # a cross-post seen again, in another folder
    alpha.save_parsed((s.pk, mail(int(s.message_id[1:].partition("@")[0]), T0)) for s in (*first, again[1]))
    week = (T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert [m.message_id for m in alpha.mails_between(*week)] == ["<1@test.example>", "<2@test.example>"]
    assert [m.message_id for m in beta.mails_between(*week)] == [f"<{n}@test.example>" for n in (1, 2, 3)]
    assert store.counts()["messages"] == 3 and store.for_list("gamma").mails_between(*week) == []
    if store_url.startswith("sqlite"):  # the sqlite3 reader of `draft` reads the same, without SQLAlchemy
        from bot.store import open_mail_reader, open_store_writer

        reader = open_mail_reader(store_url, "alpha")
        assert reader is not None
        assert [m.message_id for m in reader.mails_between(*week)] == ["<1@test.example>", "<2@test.example>"]
        reader.close()
        writer = open_store_writer(store_url, "gamma")
        assert writer is not None and [s.new for s in writer.add_raw([raw(3), raw(4)])] == [False, True]
        writer.close()
        assert {m.message_id for m in store.for_list("gamma").mails_by_ids(["<3@test.example>"])} == {
            "<3@test.example>"}
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM list_messages WHERE list_name = 'gamma'")).scalar() == 2


def test_drafts_subscribers_actions_and_the_schedule_are_per_list(store: Store, settings: Settings) -> None:
    alpha, beta = store.for_list("alpha"), store.for_list("beta")
    mine = lifecycle.store_draft(alpha, settings, make_digest(), "ann", "cli")
    theirs = lifecycle.store_draft(beta, settings, make_digest(), "bob", "cli")
    assert theirs.superseded == () and mine.id != theirs.id  # the same week, another list: nothing superseded
    assert [d.id for d in lifecycle.drafts(alpha)] == [mine.id] and [d.id for d in lifecycle.drafts(beta)] == [
        theirs.id]
    assert alpha.drafts.get(theirs.id) is None and alpha.drafts.count_by_state(["drafted"]) == {"drafted": 1}
    assert {t.digest_id for t in lifecycle.history(beta)} == {theirs.id}
    with alpha.transaction() as tx:  # a transaction is of its store's list too
        assert [d.id for d in tx.drafts.all()] == [mine.id]
    assert roster.add(alpha, "ann@example.org") and roster.add(beta, "ann@example.org", "Ann")
    assert roster.remove(alpha, "ann@example.org")
    assert [m.display for m in roster.members(beta)] == ["Ann <ann@example.org>"] and roster.members(alpha) == []
    alpha.ledger.prepare(["draft", "send"])
    beta.ledger.prepare(["draft"])
    alpha.ledger.owe("draft", T0)
    assert [o.job_id for o in alpha.ledger.owed()] == ["draft"] and beta.ledger.owed() == []
    alpha.ledger.owe("send", T0 - timedelta(days=1))
    beta.ledger.owe("draft", T0 + timedelta(hours=1))
    order = ("poll", "draft", "remind", "send")
    first = [(name, o.job_id, o.due) for name, o in store.ledger.owed_first(order, 2, first_list="alpha",
                                                                            list_jobs=("draft",))]
    assert first == [("alpha", "draft", T0), ("beta", "draft", T0 + timedelta(hours=1))]  # by job, then by due
    only_alpha = store.ledger.owed_first(order, 5, first_list="alpha")
    assert [(name, o.job_id) for name, o in only_alpha] == [("alpha", "draft"), ("alpha", "send")]
    assert set(alpha.ledger.last_runs()) == {"draft", "send"} and set(beta.ledger.last_runs()) == {"draft"}
    ours = alpha.actions.propose(mine.id, "Dave", "add vchan", "<x@example.org>", T0)
    cross = beta.actions.propose(theirs.id, "Dave", "add vchan", "<x@example.org>", T0)  # a cross-post's action
    assert ours != cross and alpha.actions.get(cross) is None
    theirs_all = {a.id for a in beta.actions.all(sent_only=False)}
    assert ours in {a.id for a in alpha.actions.all(sent_only=False)} - theirs_all and cross in theirs_all


def test_a_version_5_store_is_migrated_to_lists(store_url: str, store: Store, settings: Settings) -> None:
    """Everything stored before lists belongs to the list of the config that opens the store."""
    fresh = _shape(store)
    stored_parsed(store, {1: T0})
    info = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
    roster.add(store, "ann@example.org")
    store.ledger.prepare(["draft"])
    old = sa.MetaData()
    with store.engine.begin() as conn:  # back to version 5: no list_messages, no list_name anywhere
        conn.execute(sa.text("DROP TABLE list_messages"))
        conn.execute(sa.text("DROP INDEX ix_digests_period"))
        conn.execute(sa.text("ALTER TABLE digests DROP COLUMN list_name"))
        conn.execute(sa.text("CREATE INDEX ix_digests_period ON digests (period_start, period_end)"))
        for table in (subscribers, schedule_runs):
            rows = [dict(r._mapping) for r in conn.execute(sa.select(table))]
            conn.execute(sa.text(f"DROP TABLE {table.name}"))
            older = sa.Table(table.name, old, *(c._copy() for c in table.columns if c.name != "list_name"))
            older.create(conn)
            conn.execute(older.insert(), [{k: v for k, v in r.items() if k != "list_name"} for r in rows])
        conn.execute(sa.text("UPDATE meta SET value = '5' WHERE key = 'schema_version'"))
    store.engine.dispose()
    migrated = open_store(store_url, "xen-devel")
    assert (_version(migrated), _shape(migrated)) == (str(SCHEMA_VERSION), fresh)
    found = sa.inspect(migrated.engine)
    assert [i["column_names"] for i in found.get_indexes("digests") if i["name"] == "ix_digests_period"] == [
        ["list_name", "period_start", "period_end"]]
    assert found.get_pk_constraint("subscribers")["constrained_columns"] == ["list_name", "address"]
    assert found.get_pk_constraint("schedule_runs")["constrained_columns"] == ["list_name", "job_id"]
    week = (T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert [m.message_id for m in migrated.mails_between(*week)] == ["<1@test.example>"]
    assert [d.id for d in migrated.drafts.all()] == [info.id]
    assert [m.address for m in roster.members(migrated)] == ["ann@example.org"]
    assert set(migrated.ledger.last_runs()) == {"draft"}
    other = migrated.for_list("list")
    assert other.drafts.all() == [] and other.mails_between(*week) == [] and roster.members(other) == []
    migrated.engine.dispose()


def test_drafts_are_counted_per_list_in_one_query(store: Store, settings: Settings) -> None:
    lifecycle.store_draft(store.for_list("alpha"), settings, make_digest(), "ann", "cli")
    lifecycle.store_draft(store.for_list("beta"), settings, make_digest(), "ann", "cli")
    lifecycle.store_draft(store.for_list("beta"), settings, make_digest(START + timedelta(days=7),
                                                                        END + timedelta(days=7)), "ann", "cli")
    assert store.drafts.count_by_list(["drafted", "approved"]) == {"alpha": {"drafted": 1, "approved": 0},
                                                                  "beta": {"drafted": 2, "approved": 0}}
