"""Following the list over IMAP against a real Dovecot: sync, errors, TLS."""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError, SourceError
from bot.imap.poll import PollReport, poll
from bot.settings import Settings, load_settings
from bot.store import open_sync_state
from bot.store.database import open_store
from tests.helpers.dovecot import Dovecot, Proxy, free_port, write_config
from tests.helpers.mailfactory import make_raw


def settings(tmp_path: Path, server: Dovecot, **source: Any) -> Settings:
    return load_settings(write_config(tmp_path / "digestbot.toml", server, **source))


def stored(config: Settings) -> int:
    store = open_store(config.store_url)
    try:
        return store.counts()["messages"]
    finally:
        store.engine.dispose()


def folder_state(config: Settings, folder: str) -> tuple[int | None, int, str | None]:
    state = open_sync_state(config.store_url)
    found = state.get(folder)
    state.close()
    assert found is not None
    return found.uidvalidity, found.last_uid, found.last_error


# -- incremental sync -------------------------------------------------------


def test_first_sync_stores_everything_and_leaves_mail_unseen(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver("INBOX", [make_raw(n) for n in range(1, 8)])
    config = settings(tmp_path, dovecot, batch_size=3)  # three UID FETCH batches

    report = poll(config)

    assert report.line() == "INBOX: 7 new (0 already stored), last UID 7"
    assert stored(config) == 7
    assert folder_state(config, "INBOX")[1:] == (7, None)
    assert dovecot.unseen("INBOX") == 7  # BODY.PEEK[] on a read-only selection


def test_nothing_new_costs_one_examine_and_no_fetch(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver("INBOX", [make_raw(1), make_raw(2)])
    proxy = Proxy(dovecot.port)
    config = settings(tmp_path, dovecot, port=proxy.port)
    poll(config)
    proxy.commands.clear()

    report = poll(config)

    assert report.line() == "INBOX: nothing new"
    # imaplib always asks for CAPABILITY on connecting; after LOGIN, the poll itself is one EXAMINE.
    assert proxy.commands == ["CAPABILITY", "LOGIN", 'EXAMINE "INBOX"', "LOGOUT"]
    proxy.close()


def test_new_mail_between_polls_is_fetched_alone(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver("INBOX", [make_raw(n) for n in range(1, 4)])
    proxy = Proxy(dovecot.port)
    config = settings(tmp_path, dovecot, port=proxy.port)
    poll(config)
    dovecot.deliver("INBOX", [make_raw(4), make_raw(5)])
    proxy.commands.clear()

    report = poll(config)

    assert report.line() == "INBOX: 2 new (0 already stored), last UID 5"
    fetches = [c for c in proxy.commands if "FETCH" in c]
    assert fetches == ["UID FETCH 4,5 (BODY.PEEK[])"]
    assert stored(config) == 5
    proxy.close()


def test_uidvalidity_change_rereads_without_duplicates_or_loss(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver("Lists/dev", [make_raw(n) for n in range(1, 6)])
    config = settings(tmp_path, dovecot, folders=["Lists/dev"])
    poll(config)
    old_validity = folder_state(config, "Lists/dev")[0]

    dovecot.recreate_folder("Lists/dev")  # same five messages, new UIDVALIDITY
    dovecot.deliver("Lists/dev", [make_raw(6)])
    report = poll(config)

    assert report.folders[0].resynced
    assert (report.folders[0].new, report.folders[0].duplicates) == (1, 5)
    assert stored(config) == 6
    validity, last_uid, _ = folder_state(config, "Lists/dev")
    assert validity != old_validity and validity == dovecot.uidvalidity("Lists/dev")
    assert last_uid == 6
    assert poll(config).line() == "Lists/dev: nothing new"


def test_several_folders_store_a_cross_posted_message_once(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver("INBOX", [make_raw(1), make_raw(2)])
    dovecot.deliver("Lists/dev", [make_raw(2), make_raw(3)])  # <2@test.example> went to both
    config = settings(tmp_path, dovecot, folders=["INBOX", "Lists/dev"])

    report = poll(config)

    assert report.line() == ("INBOX: 2 new (0 already stored), last UID 2; "
                             "Lists/dev: 1 new (1 already stored), last UID 2")
    assert stored(config) == 3
    assert poll(config, folders=("Lists/dev",)).line() == "Lists/dev: nothing new"


def test_archive_folders_are_read_once_to_backfill(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver("Archive/dev", [make_raw(n) for n in range(1, 4)])
    dovecot.deliver("INBOX", [make_raw(4)])
    proxy = Proxy(dovecot.port)
    config = settings(tmp_path, dovecot, port=proxy.port, archive_folders=["Archive/dev"])

    first = poll(config)
    proxy.commands.clear()
    second = poll(config)

    assert first.line().endswith("Archive/dev: 3 new (0 already stored), last UID 3")
    assert second.line() == "INBOX: nothing new"
    assert proxy.commands == ["CAPABILITY", "LOGIN", 'EXAMINE "INBOX"', "LOGOUT"]
    assert stored(config) == 4
    proxy.close()


def test_an_empty_folder_on_the_first_poll_is_remembered(dovecot: Dovecot, tmp_path: Path) -> None:
    config = settings(tmp_path, dovecot)
    assert poll(config).line() == "INBOX: nothing new"
    assert folder_state(config, "INBOX")[1] == 0
    dovecot.deliver("INBOX", [make_raw(1)])
    assert poll(config).line() == "INBOX: 1 new (0 already stored), last UID 1"


def test_missing_dovecot_fails_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    monkeypatch.setattr("os.access", lambda _path, _mode: False)
    with pytest.raises(RuntimeError, match=r"apt-get install -y dovecot-imapd"):
        Dovecot()


# -- errors: one clear line each ---------------------------------------------


def test_wrong_password_is_one_line_without_the_password(dovecot: Dovecot, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    config = settings(tmp_path, dovecot)
    (tmp_path / "imap-password").write_text("wrong-" + dovecot.password)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SourceError) as info:
        poll(config)

    message = str(info.value)
    assert message.startswith(f"imap: login failed for user bot at 127.0.0.1:{dovecot.port}")
    assert "\n" not in message
    assert dovecot.password not in message and dovecot.password not in caplog.text


def test_password_never_reaches_the_log(dovecot: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dovecot.deliver("INBOX", [make_raw(1)])
    caplog.set_level(logging.DEBUG)  # imapclient logs every command at DEBUG
    poll(settings(tmp_path, dovecot))
    assert "LOGIN" in caplog.text
    assert dovecot.password not in caplog.text


def test_missing_folder_fails_alone_and_is_recorded(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver("INBOX", [make_raw(1)])
    config = settings(tmp_path, dovecot, folders=["Lists/foo", "INBOX"])

    with pytest.raises(SourceError, match=r"^imap: folder 'Lists/foo' does not exist$"):
        poll(config)

    assert stored(config) == 1  # the other folder was still read
    assert folder_state(config, "Lists/foo")[2] == "imap: folder 'Lists/foo' does not exist"
    dovecot.create_folder("Lists/foo")
    report = poll(config)  # the next scheduled poll runs, and clears the error
    assert report.line() == "Lists/foo: nothing new; INBOX: nothing new"
    assert folder_state(config, "Lists/foo")[2] is None


def test_a_host_that_does_not_answer(tmp_path: Path, dovecot: Dovecot) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never says hello
        port = silent.getsockname()[1]
        config = settings(tmp_path, dovecot, port=port, timeout=1.0)
        with pytest.raises(SourceError, match=rf"^imap: 127.0.0.1:{port} did not answer within 1s$"):
            poll(config)


def test_a_closed_port(tmp_path: Path, dovecot: Dovecot) -> None:
    port = free_port()
    with pytest.raises(SourceError, match=rf"^imap: 127.0.0.1:{port} refused the connection$"):
        poll(settings(tmp_path, dovecot, port=port))


def test_missing_password_is_a_config_error(tmp_path: Path, dovecot: Dovecot) -> None:
    config = settings(tmp_path, dovecot, password_file="", password_env="DIGESTBOT_TEST_UNSET_PW")
    with pytest.raises(ConfigError, match="DIGESTBOT_TEST_UNSET_PW is not set"):
        poll(config)


def test_plain_imap_logs_a_warning(dovecot: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    poll(settings(tmp_path, dovecot))
    assert any(r.name == "digestbot.imap" and r.levelno == logging.WARNING and "unencrypted" in r.message
               for r in caplog.records)


# -- TLS ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_tls_with_the_test_ca(dovecot_tls: Dovecot, tmp_path: Path, mode: str,
                              caplog: pytest.LogCaptureFixture) -> None:
    dovecot_tls.deliver("INBOX", [make_raw(1), make_raw(2)])
    port = dovecot_tls.ssl_port if mode == "ssl" else dovecot_tls.port
    config = settings(tmp_path, dovecot_tls, tls=mode, port=port, ca_file=str(dovecot_tls.ca_file))

    report: PollReport = poll(config)

    assert report.line() == "INBOX: 2 new (0 already stored), last UID 2"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert re.search(r"Login: user=<bot>, .*, TLS", dovecot_tls.log())  # the server saw TLS, too


def test_self_signed_server_needs_the_ca_file(dovecot_tls: Dovecot, tmp_path: Path) -> None:
    config = settings(tmp_path, dovecot_tls, tls="ssl", port=dovecot_tls.ssl_port)
    with pytest.raises(SourceError, match=r"^imap: TLS handshake with 127\.0\.0\.1:\d+ failed: "
                                          r"certificate verify failed: .*source\.ca_file"):
        poll(config)


def test_a_server_that_does_not_do_tls(dovecot: Dovecot, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^imap: TLS handshake with 127\.0\.0\.1:\d+ failed: "):
        poll(settings(tmp_path, dovecot, tls="ssl"))
    with pytest.raises(SourceError, match=r"^imap: 127\.0\.0\.1:\d+ does not offer STARTTLS"):
        poll(settings(tmp_path, dovecot, tls="starttls"))


def test_an_unreadable_ca_file_is_a_config_error(dovecot_tls: Dovecot, tmp_path: Path) -> None:
    config = settings(tmp_path, dovecot_tls, tls="ssl", port=dovecot_tls.ssl_port, ca_file="no-such-ca.pem")
    with pytest.raises(ConfigError, match=r"source\.ca_file: cannot load .*no-such-ca\.pem"):
        poll(config)
