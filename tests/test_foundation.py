"""Settings, sources, store and ingest: the stages every other one stands on."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import ConfigError, SourceError
from bot.mail.ingest import ingest
from bot.mail.source import open_source
from bot.model import RawMail
from bot.settings import LimitSettings, load_settings
from bot.store.database import open_store
from bot.store.identity import message_id_of
from tests.helpers.mailfactory import make_raw, mbox_of


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- settings ----------------------------------------------------------------


def test_example_config_loads_and_documents_every_key() -> None:
    settings = load_settings(Path(__file__).parent.parent / "config" / "digestbot.example.toml")
    assert settings.source.folders == ("INBOX",)
    assert settings.smtp.mode == "list"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[list]\nnmae = 'x'\n", "unknown key 'list.nmae'"),
        ("[source]\nport = 'x'\n", "source.port: expected an integer"),
        ("[source]\ntls = 'maybe'\n", "source.tls: must be one of"),
        ("[list]\ntimezone = 'Mars/Base'\n", "list.timezone: unknown timezone"),
        ("[digest]\nsections = [{title = 'x'}]\n", "missing required key 'digest.sections[0].key'"),
        ("list = [", "not valid TOML"),
        ("[digest]\nsections = [{key = 'x', subject = ['(']}]\n", "bad pattern"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_secret_comes_from_environment_never_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(write(tmp_path / "c.toml", "[source]\npassword_env = 'DB_TEST_PW'\n"))
    monkeypatch.setenv("DB_TEST_PW", "s3cret")
    assert settings.source.password.reveal("imap") == "s3cret"
    monkeypatch.delenv("DB_TEST_PW")
    with pytest.raises(ConfigError, match="DB_TEST_PW is not set"):
        settings.source.password.reveal("imap")
    with pytest.raises(ConfigError, match=r"unknown key 'source\.password'"):
        load_settings(write(tmp_path / "d.toml", "[source]\npassword = 'inline'\n"))


def test_file_names_in_the_config_are_relative_to_its_folder(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "imap-password").write_text("s3cret\n", encoding="utf-8")
    config = write(folder / "c.toml", "[source]\nca_file = 'ca.pem'\npassword_file = 'imap-password'\n"
                   "[smtp]\nca_file = '/etc/ssl/ca.pem'\npassword_file = 'smtp-password'\n"
                   "[review]\nsecret_file = 'keys/review'\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(config.relative_to(tmp_path))
    assert settings.source.ca_file == str(folder.resolve() / "ca.pem")
    assert settings.smtp.ca_file == "/etc/ssl/ca.pem"  # absolute names stay as they are
    assert settings.smtp.password_file == str(folder.resolve() / "smtp-password")
    assert settings.review.secret_file == str(folder.resolve() / "keys" / "review")
    monkeypatch.chdir("/")  # a daemon, or cron, runs from elsewhere
    assert settings.source.password.reveal("source") == "s3cret"


def test_settings_are_immutable(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path / "c.toml", ""))
    with pytest.raises(AttributeError):
        settings.list.name = "other"  # type: ignore[misc]


# -- sources -----------------------------------------------------------------


def test_mbox_source_unescapes_from_lines_and_keeps_every_message(tmp_path: Path) -> None:
    raws = [make_raw(1, body="From the start.\nline\n"), make_raw(2), make_raw(3)]
    path = tmp_path / "a.mbox"
    path.write_bytes(mbox_of(raws))
    got = list(open_source(path))
    assert [m.raw.rstrip(b"\n") for m in got] == [r.rstrip(b"\n") for r in raws]
    assert got[0].origin.endswith("#0")


def test_maildir_source_reads_cur_and_new(tmp_path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "cur" / "1:2,S").write_bytes(make_raw(1))
    (tmp_path / "new" / "2").write_bytes(make_raw(2))
    (tmp_path / "tmp" / "3").write_bytes(make_raw(3))  # still being delivered: not a message yet
    assert sorted(message_id_of(m.raw) for m in open_source(tmp_path)) == ["<1@test.example>", "<2@test.example>"]


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "nope.mbox")


# -- store and ingest --------------------------------------------------------


def test_missing_message_id_gets_a_stable_synthetic_one() -> None:
    raw = b"From: a@b\nSubject: x\n\nbody\n"
    assert message_id_of(raw) == message_id_of(raw)
    assert message_id_of(raw).endswith("@digestbot.invalid>")
    assert message_id_of(raw) != message_id_of(raw + b"!")


def test_import_twice_changes_nothing(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    mails = [RawMail(make_raw(i), "t") for i in range(5)]
    first = ingest(store, [*mails, mails[0]], LimitSettings())  # a cross-post: same id twice
    assert (first.read, first.new, first.duplicates) == (6, 5, 1)
    before = store.counts()
    again = ingest(store, mails, LimitSettings())
    assert (again.new, again.duplicates) == (0, 5)
    assert store.counts() == before == {"messages": 5, "parsed": 5, "flagged": 0, "unparsed": 0}


def test_store_file_is_owner_only_and_uses_wal(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    ingest(store, [RawMail(make_raw(1), "t")], LimitSettings())
    assert stat.S_IMODE(os.stat(tmp_path / "s.db").st_mode) == 0o600
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert store.integrity() == "ok"


def test_raw_bytes_survive_a_crash_before_parsing(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    store.add_raw([RawMail(make_raw(1), "t")])  # as if killed right after storing
    assert store.counts()["unparsed"] == 1
    report = ingest(store, [], LimitSettings())
    assert report.parsed == 1
    assert store.counts() == {"messages": 1, "parsed": 1, "flagged": 0, "unparsed": 0}


def test_malformed_mail_is_stored_and_flagged_never_dropped(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    junk = [
        b"\x00\xff\xfe garbage with no headers at all",
        b"Subject: =?bogus-charset?B?////?=\nMessage-ID: <j2@x>\n\nbody\n",
        b"Message-ID: <j3@x>\nContent-Type: multipart/mixed; boundary=\"zz\"\n\n--zz\nbroken",
        b"",
    ]
    report = ingest(store, [RawMail(r, "t") for r in junk], LimitSettings())
    assert report.new == 4
    assert store.counts()["messages"] == 4
    assert store.counts()["unparsed"] == 0
    flagged = {mid: flags for mid, _, flags in store.flagged()}
    assert "no-date" in flagged["<j2@x>"]


def test_limits_flag_hostile_mail_without_processing_it(tmp_path: Path) -> None:
    limits = LimitSettings(max_message_bytes=10_000, max_parts=50, max_header_bytes=8_000, max_subject_chars=100)
    huge = make_raw(1, body="x" * 20_000)
    parts = b"".join(b"--b\nContent-Type: text/plain\n\npart\n" for _ in range(200))
    many = make_raw(2, headers={"Content-Type": 'multipart/mixed; boundary="b"'}, body=parts.decode())
    many = many.replace(b"Content-Type: text/plain; charset=utf-8\n", b"", 1)
    long_head = make_raw(3, headers={f"X-H{i}": "v" for i in range(2000)})
    long_subject = make_raw(4, subject="s" * 5000)
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    ingest(store, [RawMail(r, "t") for r in (huge, many, long_head, long_subject)], limits)
    flags = {mid: set(f.split()) for mid, _, f in store.flagged()}
    assert "too-large" in flags["<1@test.example>"]
    assert "too-many-parts" in flags["<2@test.example>"]
    assert "header-too-large" in flags["<3@test.example>"]
    assert "subject-too-long" in flags["<4@test.example>"]


def test_dates_fall_back_to_received_then_import_time(tmp_path: Path) -> None:
    no_date = b"Message-ID: <d1@x>\nReceived: from a by b; Tue, 19 Aug 2014 10:00:00 +0200\n\nhi\n"
    nothing = b"Message-ID: <d2@x>\n\nhi\n"
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    ingest(store, [RawMail(no_date, "t"), RawMail(nothing, "t")], LimitSettings())
    by_id = {m.message_id: m for m in store.mails_by_ids(["<d1@x>", "<d2@x>"])}
    assert by_id["<d1@x>"].date == datetime(2014, 8, 19, 8, 0, tzinfo=UTC)
    assert "date-from-received" in by_id["<d1@x>"].flags
    assert "no-date" in by_id["<d2@x>"].flags
    assert by_id["<d2@x>"].date.year >= 2025


@pytest.mark.parametrize(("sender", "name", "address"), [
    ("Ann Example <ann@example.org>", "Ann Example", "ann@example.org"),
    # LISTSERV (3GPP): no angle brackets, the name and the address run together.
    ("Thorsten Hertel thorsten.hertel@KEYSIGHT.COM", "Thorsten Hertel", "thorsten.hertel@keysight.com"),
    ('"Rodriguez-Herrera, Alfonso" alfonso.rodriguez-herrera@spirent.com', "Rodriguez-Herrera, Alfonso",
     "alfonso.rodriguez-herrera@spirent.com"),
    # Pipermail hides addresses, and sometimes repeats them as the name.
    ("oliphant at ee.byu.edu (Travis Oliphant)", "Travis Oliphant", "oliphant@ee.byu.edu"),
    ("neelk at cswcasa.com (Krishnaswami, Neel)", "Krishnaswami, Neel", "neelk@cswcasa.com"),
    ("jose at example.org (=?utf-8?q?Jos=C3=A9_Mu=C3=B1oz?=)", "José Muñoz", "jose@example.org"),
    ("tpitts at accentopto.com (Todd Alan Pitts, Ph.D.)", "Todd Alan Pitts, Ph.D.", "tpitts@accentopto.com"),
    ("siopis at umich.edu (Christos Siopis <siopis@umich.edu>)", "Christos Siopis", "siopis@umich.edu"),
    ("barnard at stat.harvard.edu (barnard at stat.harvard.edu)", "", "barnard@stat.harvard.edu"),
    ('"qvc99@gmx.de" <qvc99@gmx.de>', "", "qvc99@gmx.de"),  # the name is only the address again
])
def test_the_sender_forms_real_lists_use(sender: str, name: str, address: str) -> None:
    from bot.mail.parse import parse_mail

    mail = parse_mail(make_raw(1, sender=sender), "<1@test.example>", datetime.now(UTC), LimitSettings())
    assert (mail.from_name, mail.from_addr) == (name, address)
    assert mail.author == (name or address.split("@")[0])
