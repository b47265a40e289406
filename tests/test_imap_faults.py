"""Polls that go wrong half-way, and --watch: nothing lost, nothing stored twice, few commands."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.imap.poll import PollReport, poll
from bot.model import RawMail
from bot.settings import Settings, load_settings
from bot.store import open_sync_state
from bot.store.database import Store, open_store
from bot.store.rows import Stored
from tests.helpers.dovecot import Dovecot, Proxy, write_config
from tests.helpers.mailfactory import make_raw

COUNT = 120  # about 60 kB per batch of 20: several FETCH responses to break into


def settings(tmp_path: Path, server: Dovecot, **source: Any) -> Settings:
    return load_settings(write_config(tmp_path / "digestbot.toml", server, **source))


@pytest.fixture()
def loaded(dovecot: Dovecot) -> Dovecot:
    body = "A line of list traffic, long enough to make the fetch responses realistic.\n" * 40
    dovecot.deliver_files("INBOX", [make_raw(n, body=body) for n in range(1, COUNT + 1)])
    return dovecot


def assert_complete(config: Settings, report: PollReport) -> None:
    """Every message stored exactly once, the state at the last UID, nothing marked read."""
    assert report.folders[0].new == COUNT
    assert report.folders[0].duplicates == 0
    store = open_store(config.store_url)
    assert store.counts()["messages"] == COUNT
    store.engine.dispose()
    state = open_sync_state(config.store_url).get("INBOX")
    assert state is not None and (state.last_uid, state.last_error) == (COUNT, None)


def test_connection_cut_mid_fetch(loaded: Dovecot, tmp_path: Path) -> None:
    proxy = Proxy(loaded.port)
    proxy.after_bytes(150_000, "cut")  # inside the third FETCH response
    config = settings(tmp_path, loaded, port=proxy.port, batch_size=20)

    report = poll(config)

    assert proxy.connections == 2
    assert_complete(config, report)
    assert loaded.unseen("INBOX") == COUNT
    proxy.close()


def test_server_process_killed_mid_fetch(loaded: Dovecot, tmp_path: Path) -> None:
    proxy = Proxy(loaded.port)

    def kill_imap() -> None:  # the per-connection imap processes of our own test server
        for pid in loaded.imap_pids():
            os.kill(pid, signal.SIGKILL)

    proxy.after_bytes(100_000, kill_imap)
    config = settings(tmp_path, loaded, port=proxy.port, batch_size=20)

    assert_complete(config, poll(config))
    assert proxy.connections >= 2


def test_server_restarted_mid_poll(loaded: Dovecot, tmp_path: Path) -> None:
    proxy = Proxy(loaded.port)

    def restart() -> None:  # down now, up again 0.3 s later: reconnecting fails a few times first
        loaded.stop()
        threading.Timer(0.3, loaded.start).start()

    proxy.after_bytes(100_000, restart)
    config = settings(tmp_path, loaded, port=proxy.port, batch_size=20)

    assert_complete(config, poll(config))
    assert proxy.connections >= 3
    assert loaded.log().count("starting up") == 2


def test_timeout_mid_poll(loaded: Dovecot, tmp_path: Path) -> None:
    proxy = Proxy(loaded.port)
    proxy.after_bytes(100_000, "stall")  # the server goes silent; the client's read times out
    config = settings(tmp_path, loaded, port=proxy.port, batch_size=20, timeout=1.0)

    assert_complete(config, poll(config))
    assert proxy.connections == 2
    proxy.close()


def test_a_killed_poll_resumes_from_the_last_stored_uid(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver_files("INBOX", [make_raw(n) for n in range(1, 501)])

    class Killed(Exception):
        pass

    class DiesOnSecondBatch(Store):
        """ingest stores 400 messages at a time: the process 'dies' storing the second batch."""

        calls = 0

        def add_raw(self, batch: Sequence[RawMail], lists: Sequence[str] | None = None) -> list[Stored]:
            DiesOnSecondBatch.calls += 1
            if DiesOnSecondBatch.calls == 2:
                raise Killed
            return super().add_raw(batch, lists)

    config = settings(tmp_path, dovecot, batch_size=50)
    with pytest.raises(Killed):
        poll(config, store_factory=lambda url: DiesOnSecondBatch(open_store(url).engine))
    state = open_sync_state(config.store_url).get("INBOX")
    assert state is not None and state.last_uid == 400

    proxy = Proxy(dovecot.port)
    resumed = poll(settings(tmp_path, dovecot, port=proxy.port, batch_size=50))

    assert (resumed.folders[0].new, resumed.folders[0].duplicates) == (100, 0)
    fetched = [c for c in proxy.commands if "FETCH" in c]
    assert fetched[0].startswith("UID FETCH 401,402,") and len(fetched) == 2
    store = open_store(config.store_url)
    assert store.counts()["messages"] == 500
    store.engine.dispose()
    proxy.close()


# -- --watch ------------------------------------------------------------------------


def watch(config: Settings, cycles: int, on_cycle: object = None) -> list[PollReport]:
    reports: list[PollReport] = []

    def keep_going(report: PollReport) -> bool:
        reports.append(report)
        if callable(on_cycle):
            on_cycle(len(reports))
        return len(reports) <= cycles

    poll(config, watch=True, on_cycle=keep_going)
    return reports


def commands_per_cycle(proxy: Proxy, config: Settings, cycles: int) -> list[list[str]]:
    marks: list[int] = []
    watch(config, cycles, lambda _n: marks.append(len(proxy.commands)))
    return [proxy.commands[a:b] for a, b in itertools.pairwise(marks)]


def test_watch_with_idle_costs_one_command_per_quiet_cycle(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver("INBOX", [make_raw(1)])
    proxy = Proxy(dovecot.port)
    config = settings(tmp_path, dovecot, port=proxy.port, idle_seconds=1)

    cycles = commands_per_cycle(proxy, config, 3)

    # The first poll fetched a message, so the next cycle re-checks (one EXAMINE) before
    # IDLE-ing; from then on a quiet cycle is one IDLE (DONE ends it and is no command).
    assert cycles == [['EXAMINE "INBOX"'], ["IDLE"], ["IDLE"]]
    proxy.close()


def test_watch_checks_other_folders_with_one_status_each(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.create_folder("Lists/dev")
    proxy = Proxy(dovecot.port)
    config = settings(tmp_path, dovecot, port=proxy.port, folders=["INBOX", "Lists/dev"], idle_seconds=1)

    cycles = commands_per_cycle(proxy, config, 3)

    # Once: imapclient asks for the post-login CAPABILITY list, and INBOX is selected again for IDLE.
    assert cycles[0] == ["CAPABILITY", 'EXAMINE "INBOX"', "IDLE", 'STATUS "Lists/dev" (UIDVALIDITY UIDNEXT)']
    assert cycles[1:] == [["IDLE", 'STATUS "Lists/dev" (UIDVALIDITY UIDNEXT)']] * 2
    proxy.close()


def test_watch_without_idle_polls_with_one_examine(tmp_path: Path) -> None:
    server = Dovecot(extra="imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE UIDPLUS UNSELECT\n").start()
    try:
        proxy = Proxy(server.port)
        config = settings(tmp_path, server, port=proxy.port, idle_seconds=1)
        cycles = commands_per_cycle(proxy, config, 3)
        assert cycles[1:] == [['EXAMINE "INBOX"'], ['EXAMINE "INBOX"']]
        proxy.close()
    finally:
        server.cleanup()


def test_watch_fetches_mail_as_it_arrives(dovecot: Dovecot, tmp_path: Path) -> None:
    config = settings(tmp_path, dovecot, idle_seconds=20)  # IDLE, not the timer, must wake it
    deliveries: list[threading.Timer] = []

    def deliver_during_idle(n: int) -> None:
        if n == 1:  # half a second into the first IDLE
            deliveries.append(threading.Timer(0.5, dovecot.deliver, ("INBOX", [make_raw(7)])))
            deliveries[-1].start()

    started = time.monotonic()
    reports = watch(config, 2, deliver_during_idle)

    assert [r.line() for r in reports] == [
        "INBOX: nothing new",
        "INBOX: 1 new (0 already stored), last UID 1",
        "INBOX: nothing new",  # the re-check that follows a busy cycle
    ]
    assert time.monotonic() - started < 15
    assert dovecot.unseen("INBOX") == 1


def test_watch_notices_mail_that_arrived_before_idle_began(dovecot: Dovecot, tmp_path: Path) -> None:
    config = settings(tmp_path, dovecot, idle_seconds=1)

    def deliver_between_cycles(n: int) -> None:
        if n == 1:
            dovecot.deliver("INBOX", [make_raw(8)])  # before the IDLE: Dovecot reports it at DONE

    reports = watch(config, 1, deliver_between_cycles)

    assert reports[1].line() == "INBOX: 1 new (0 already stored), last UID 1"
