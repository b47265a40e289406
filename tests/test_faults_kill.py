"""kill -9 at random points of `import`, `poll` and `send`; then the same command again.

After the restart the store holds every message exactly once (the bytes the
source gave), the store passes SQLite's full integrity check after every kill,
and every recipient has the digest at most once: once, or reported to the chair
as unknown (a delivery row left `sending` by a kill is never resent; see
bot/delivery/send.py). Each kind runs TRIALS trials as real subprocesses against the
Dovecot and aiosmtpd fixtures, each with its own store; the kill delays are
drawn (seeded) from the measured duration of an uninterrupted run, and each
kill takes the whole process group (parse workers too). The figures are
printed (pytest -s shows them).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.imap.poll import poll
from bot.mail.source import MboxSource
from bot.model import Mail
from bot.review import lifecycle
from bot.review.roster import add
from bot.settings import load_settings
from bot.store.database import Store, open_store
from bot.store.identity import message_id_of
from bot.store.tables import metadata
from tests.helpers.dovecot import Dovecot, write_config
from tests.helpers.mailfactory import make_raw, mbox_of
from tests.helpers.reviewkit import CHAIR, SECRET, SECRET_ENV, make_digest, text_of
from tests.helpers.reviewkit import write_config as write_review_config
from tests.helpers.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
TRIALS = 30
MESSAGES = 800
IMPORTED = 3000  # import stores and parses 400 at a time: several batches to be killed in
RECIPIENTS = 12
BODY = "Another line of ordinary list traffic, to give the parser some work.\n" * 12


def command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli.main", "-q", "--config", str(config), *args]


def environment() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), SECRET_ENV: SECRET}
    env.pop("DIGESTBOT_CONFIG", None)
    return env


def run(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=environment(), cwd=ROOT, timeout=120)
    return time.monotonic() - started, done


def _processes() -> dict[int, tuple[int, int]]:
    """Every live (not zombie) process: pid -> (parent pid, process group)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] not in ("Z", "X"):
            found[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return found


def tree(root: int) -> set[int]:
    """`root` and its descendants, walked down from the parent pids."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in _processes().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def left_of(run: set[int], pgid: int) -> set[int]:
    """What lives on of a run: its tree as walked before the kill, and anything since forked into its group."""
    return {pid for pid, (_, group) in _processes().items() if pid in run or group == pgid}


# Per command: child processes the killed runs had, and how many of them outlived the kill (each trial
# asserts none).
LEFTOVERS: Counter[str] = Counter()


def kill_after(argv: list[str], delay: float, kind: str = "", sig: signal.Signals = signal.SIGKILL) -> bool:
    """Start `argv`, SIGKILL its main process (only) after `delay`; True if it was still running.

    Only the main process is killed, as cron's timeout, the OOM killer or a plain `kill -9` do: every
    process it started must then die by itself (bot/lifeline.py). Its own session and process group make
    the run's processes findable even once reparented.
    """
    proc = subprocess.Popen(argv, env=environment(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        run = tree(proc.pid)
        os.kill(proc.pid, sig)
        proc.wait()
    LEFTOVERS[f"{kind} forked"] += len(run) - 1
    deadline = time.monotonic() + 5
    while left_of(run, proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    left = left_of(run, proc.pid)
    LEFTOVERS[f"{kind} left"] += len(left)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)  # clean up before failing
    assert not left, f"processes of the killed run live on: {sorted(left)}"
    return True


def integrity(db: Path) -> str:
    """SQLite's full integrity check (WAL recovery first, as the next run does)."""
    if not db.exists():
        return "ok"
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():  # past creation
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()
    return "; ".join(r[0] for r in rows)


def stored(db: Path) -> list[tuple[str, str, str]]:
    """(Message-ID, sha256 of the stored bytes, state) of every stored message."""
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"messages", "message_raw"} <= tables:  # killed while the first run created the store
            return []
        rows = conn.execute("SELECT m.message_id, r.raw, m.state FROM messages m "
                            "LEFT JOIN message_raw r ON r.message_pk = m.id").fetchall()
    finally:
        conn.close()
    return [(mid, hashlib.sha256(raw or b"").hexdigest(), state) for mid, raw, state in rows]


def shas(raws: Iterable[bytes]) -> dict[str, str]:
    return {message_id_of(raw): hashlib.sha256(raw).hexdigest() for raw in raws}


@dataclass
class Figures:
    kind: str
    trials: int = 0
    killed: int = 0
    at_kill: Counter[str] = field(default_factory=Counter)  # how far the killed run had got
    lost: int = 0
    duplicated: int = 0
    extra: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    startup: float = 0.0  # a run of the same command with nothing to do
    duration: float = 0.0  # an uninterrupted run

    def line(self) -> str:
        where = ", ".join(f"{k} {n}" for k, n in sorted(self.at_kill.items()))
        extra = "".join(f", {k} {n}" for k, n in sorted(self.extra.items()))
        forked, left = LEFTOVERS[f"{self.kind} forked"], LEFTOVERS[f"{self.kind} left"]
        return (f"kill -9 during {self.kind}: {self.trials} trials, {self.killed} killed mid-run ({where}); "
                f"lost {self.lost}, duplicated {self.duplicated}{extra}; "
                f"child processes at the kills {forked}, left behind {left} "
                f"[runs of {self.startup:.2f}s idle, {self.duration:.2f}s working; {self.seconds:.0f}s in all]")


def delays(rng: random.Random, figures: Figures) -> list[float]:
    """Kill times over a whole run, mostly past the start-up (imports, config) that every run shares."""
    return [rng.uniform(figures.startup * 0.8, figures.duration * 0.95) for _ in range(TRIALS)]


def check_messages(db: Path, expected: dict[str, str], figures: Figures) -> None:
    rows = stored(db)
    ids = Counter(mid for mid, _, _ in rows)
    figures.duplicated += sum(n - 1 for n in ids.values())
    figures.lost += len(set(expected) - set(ids))
    assert ids == Counter(list(expected)), "every message exactly once"
    assert {mid: sha for mid, sha, _ in rows} == expected, "with the bytes the source gave"
    assert {state for _, _, state in rows} == {"parsed"}


def progress(rows: list[tuple[str, str, str]], total: int) -> str:
    if not rows:
        return "nothing stored"
    if len(rows) < total:
        return "part stored"
    return "all stored, some unparsed" if any(s == "new" for _, _, s in rows) else "all stored and parsed"


def assert_trials_ended_well(config: Path, figures: Figures, started: float) -> None:
    """After the last trial: status reports a sound store, and nothing was lost or duplicated."""
    status = run(command(config, "status"))[1]
    assert status.returncode == 0 and "(integrity ok)" in status.stdout
    figures.seconds = time.monotonic() - started
    print(figures.line())
    assert figures.trials >= 30 and figures.killed >= TRIALS // 2  # the rest ended before their kill time
    assert (figures.lost, figures.duplicated) == (0, 0)


# -- import -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_kill_9_during_import(tmp_path: Path) -> None:
    started = time.monotonic()
    mbox = tmp_path / "list.mbox"
    mbox.write_bytes(mbox_of([make_raw(n, body=BODY) for n in range(IMPORTED)]))
    expected = shas(m.raw for m in MboxSource(mbox))
    figures = Figures("import")
    rng = random.Random(20140820)

    def fresh(name: str) -> tuple[Path, Path]:
        folder = tmp_path / name
        folder.mkdir()
        config = folder / "c.toml"
        config.write_text('[store]\npath = "store.sqlite3"\n')
        return config, folder / "store.sqlite3"

    one = tmp_path / "one.mbox"
    one.write_bytes(mbox_of([make_raw(0, body=BODY)]))
    config, db = fresh("measure")
    figures.startup, done = run(command(config, "import", str(one)))  # start-up, and next to no work
    assert done.returncode == 0, done.stderr
    figures.duration, done = run(command(config, "import", str(mbox)))
    assert done.returncode == 0, done.stderr
    check_messages(db, expected, Figures("measure"))

    for trial, delay in enumerate(delays(rng, figures)):
        config, db = fresh(f"trial-{trial}")
        killed = kill_after(command(config, "import", str(mbox)), delay, "import")
        figures.trials += 1
        figures.killed += killed
        assert integrity(db) == "ok", f"trial {trial}: killed after {delay:.3f}s"
        if killed:
            figures.at_kill[progress(stored(db), IMPORTED)] += 1
        _, again = run(command(config, "import", str(mbox)))
        assert again.returncode == 0, again.stderr
        check_messages(db, expected, figures)
        assert integrity(db) == "ok"

    assert LEFTOVERS["import forked"] > 0, "some kills caught the import with its workers at work"
    assert_trials_ended_well(config, figures, started)


def test_sigterm_during_import_stops_its_workers_too(tmp_path: Path) -> None:
    """An orderly stop (systemd's SIGTERM, a Ctrl-C'd shell's) ends the parse workers with the import."""
    mbox = tmp_path / "list.mbox"
    mbox.write_bytes(mbox_of([make_raw(n, body=BODY) for n in range(IMPORTED)]))
    expected = shas(m.raw for m in MboxSource(mbox))
    rng = random.Random(20140823)

    def fresh(name: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        config = folder / "c.toml"
        config.write_text('[store]\npath = "store.sqlite3"\n')
        return config

    # The signal times come from this machine's own runs, not from fixed seconds: a faster start-up or
    # parser must not let the imports end before their signal (fixed 0.3-0.6 s did, once imports got faster).
    one = tmp_path / "one.mbox"
    one.write_bytes(mbox_of([make_raw(0, body=BODY)]))
    startup, done = run(command(fresh("measure-idle"), "import", str(one)))
    assert done.returncode == 0, done.stderr
    duration, done = run(command(fresh("measure"), "import", str(mbox)))
    assert done.returncode == 0, done.stderr
    stopped = 0
    for trial in range(8):
        config = fresh(f"trial-{trial}")
        delay = rng.uniform(startup, startup + (duration - startup) * 0.8)
        stopped += kill_after(command(config, "import", str(mbox)), delay, "sigterm", signal.SIGTERM)
        folder = config.parent
        _, again = run(command(config, "import", str(mbox)))
        assert again.returncode == 0, again.stderr
        check_messages(folder / "store.sqlite3", expected, Figures("sigterm"))
    assert stopped >= 4 and LEFTOVERS["sigterm forked"] > 0, "the signals came while workers were at work"


# -- poll ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_kill_9_during_poll(dovecot: Dovecot, tmp_path: Path) -> None:
    started = time.monotonic()
    dovecot.deliver_files("INBOX", [make_raw(n, body=BODY) for n in range(MESSAGES)])
    with dovecot.client() as client:
        client.select_folder("INBOX", readonly=True)
        expected = shas(d[b"BODY[]"] for d in client.fetch(client.search(), ["BODY.PEEK[]"]).values())
    figures = Figures("poll")
    rng = random.Random(20140821)

    def fresh(name: str) -> tuple[Path, Path]:
        folder = tmp_path / name
        folder.mkdir()
        return write_config(folder / "c.toml", dovecot, batch_size=50), folder / "store.sqlite3"

    def sync_uid(db: Path) -> int:
        conn = sqlite3.connect(db)
        try:
            row = conn.execute("SELECT last_uid FROM sync_state WHERE folder = 'INBOX'").fetchone()
        finally:
            conn.close()
        return int(row[0]) if row else 0

    config, db = fresh("measure")
    dovecot.create_folder("Empty")
    figures.startup, done = run(command(config, "poll", "--folder", "Empty"))
    assert done.returncode == 0, done.stderr
    figures.duration, done = run(command(config, "poll"))
    assert done.returncode == 0, done.stderr
    check_messages(db, expected, Figures("measure"))
    config, db = fresh("measure-again")  # the first poll also warms the server's caches: take the faster
    duration, done = run(command(config, "poll"))
    assert done.returncode == 0, done.stderr
    figures.duration = min(figures.duration, duration)

    for trial, delay in enumerate(delays(rng, figures)):
        config, db = fresh(f"trial-{trial}")
        killed = kill_after(command(config, "poll"), delay, "poll")
        figures.trials += 1
        figures.killed += killed
        assert integrity(db) == "ok", f"trial {trial}: killed after {delay:.3f}s"
        if killed:
            rows = stored(db)
            figures.at_kill[progress(rows, MESSAGES)] += 1
            if db.exists() and rows:
                assert sync_uid(db) <= len(rows), "the sync state never runs ahead of the store"
        _, again = run(command(config, "poll"))
        assert again.returncode == 0, again.stderr
        check_messages(db, expected, figures)
        assert sync_uid(db) == MESSAGES

    assert dovecot.unseen("INBOX") == MESSAGES  # read-only, every time
    assert LEFTOVERS["poll forked"] > 0, "some kills caught the poll with its workers at work"
    assert_trials_ended_well(config, figures, started)


# -- draft --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_kill_9_during_draft(tmp_path: Path) -> None:
    """The forked child that summarizes half of a busy month dies with a draft killed outright."""
    from bot.tools.bench.traffic import generate

    started = time.monotonic()
    mbox = tmp_path / "list.mbox"
    start, end = generate(mbox, messages=700, seed=5).busiest_month()
    config = tmp_path / "c.toml"
    config.write_text(f'[list]\nname = "driftwood-devel"\ntimezone = "UTC"\n\n[store]\npath = "{tmp_path / "s.db"}"\n'
                      '\n[digest]\nchair = "Maya Okafor"\n')
    _, done = run(command(config, "import", str(mbox)))
    assert done.returncode == 0, done.stderr
    figures = Figures("draft")
    rng = random.Random(20140822)

    def draft(output: Path) -> list[str]:
        return command(config, "draft", "--since", f"{start:%Y-%m-%d}", "--until", f"{end:%Y-%m-%d}",
                       "-o", str(output))

    figures.startup, done = run(command(config, "status"))
    assert done.returncode == 0, done.stderr
    figures.duration, done = run(draft(tmp_path / "whole.txt"))
    assert done.returncode == 0, done.stderr
    whole = (tmp_path / "whole.txt").read_text()

    for trial, delay in enumerate(delays(rng, figures)):
        output = tmp_path / f"trial-{trial}.txt"
        figures.killed += kill_after(draft(output), delay, "draft")
        figures.trials += 1
        _, again = run(draft(output))
        assert again.returncode == 0, again.stderr
        assert output.read_text() == whole, f"trial {trial}: the next draft is the whole draft"

    assert LEFTOVERS["draft forked"] > 0, "some kills caught the draft with its child at work"
    assert_trials_ended_well(config, figures, started)


def test_a_poll_killed_while_parsing_is_finished_by_a_poll_with_nothing_new(dovecot: Dovecot,
                                                                           tmp_path: Path) -> None:
    """Raw bytes are stored and the sync state moved on, then the parse dies: nothing new to fetch next time,
    and still every message ends up parsed (the random trials above found this one)."""
    class Killed(Exception):
        pass

    class DiesParsing(Store):
        def save_parsed(self, parsed: Iterable[tuple[int, Mail]]) -> None:
            raise Killed

    dovecot.deliver_files("INBOX", [make_raw(n) for n in range(300)])
    config = load_settings(write_config(tmp_path / "c.toml", dovecot))
    with pytest.raises(Killed):
        poll(config, store_factory=lambda url: DiesParsing(open_store(url).engine))
    store = open_store(config.store_url)
    assert store.counts()["unparsed"] == 300

    report = poll(config)

    assert report.line() == "INBOX: nothing new"
    assert store.counts() == {"messages": 300, "parsed": 300, "flagged": 0, "unparsed": 0}
    store.engine.dispose()


@pytest.mark.parametrize("created", [1, 2, 4, 8])
def test_a_store_whose_creation_was_killed_half_way_is_completed(tmp_path: Path, created: int) -> None:
    """SQLite's driver commits each CREATE TABLE at once: a first run killed while creating the store
    leaves some tables and no schema version (the poll trials above found this one). The next run finishes it."""
    db = tmp_path / "store.sqlite3"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        for table in metadata.sorted_tables[:created]:
            table.create(conn)
    engine.dispose()
    config = tmp_path / "c.toml"
    config.write_text('[store]\npath = "store.sqlite3"\n')
    mbox = tmp_path / "m.mbox"
    mbox.write_bytes(mbox_of([make_raw(n) for n in range(3)]))

    _, done = run(command(config, "import", str(mbox)))

    assert done.returncode == 0, done.stderr
    assert integrity(db) == "ok" and len(stored(db)) == 3
    status = run(command(config, "status"))[1]
    assert status.returncode == 0 and "(integrity ok)" in status.stdout and "3 stored" in status.stdout


# -- send ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_kill_9_during_send(tmp_path: Path, smtp_server: SmtpServer, review_secret: str) -> None:
    started = time.monotonic()
    handler = smtp_server.handler
    accept = handler.handle_DATA

    async def like_a_real_server(server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.02)  # a real MTA takes a moment to queue a message
        return await accept(server, session, envelope)

    handler.handle_DATA = like_a_real_server  # type: ignore[method-assign]
    figures = Figures("send")
    rng = random.Random(20140822)

    def fresh(name: str) -> tuple[Path, Path, list[str]]:
        folder = tmp_path / name
        folder.mkdir()
        config = write_review_config(folder, smtp_server, mode="roster")
        settings = load_settings(config)
        store = open_store(settings.store_url)
        roster = [f"reader{i:02}.{name}@example.org" for i in range(RECIPIENTS)]
        for address in roster:
            add(store, address)
        draft = lifecycle.store_draft(store, settings, make_digest(), "ann", "cli")
        lifecycle.approve(store, draft.id, CHAIR, "cli")
        store.engine.dispose()
        return config, folder / "store.sqlite3", roster

    def ledger(db: Path) -> dict[str, str]:
        conn = sqlite3.connect(db)
        try:
            return dict(conn.execute("SELECT recipient, state FROM deliveries").fetchall())
        finally:
            conn.close()

    digests: list[bool] = []  # per message received, in order: a digest (not a notice to the chair)?

    def copies(roster: list[str]) -> Counter[str]:
        received = smtp_server.received
        digests.extend(not str(r.message["Subject"]).startswith("[digestbot]") for r in received[len(digests):])
        got = Counter(rcpt for r, digest in zip(received, digests, strict=True) if digest for rcpt in r.rcpt_tos)
        return Counter({address: got[address] for address in roster})

    config, db, roster = fresh("measure")
    figures.duration, done = run(command(config, "send"))
    assert done.returncode == 0, done.stderr
    assert copies(roster) == Counter(dict.fromkeys(roster, 1))
    figures.startup, done = run(command(config, "send"))  # nothing left to send: start-up and the lock
    assert done.returncode == 0 and done.stdout.strip() == "nothing to send", done.stdout

    for trial, delay in enumerate(delays(rng, figures)):
        config, db, roster = fresh(f"trial-{trial}")
        killed = kill_after(command(config, "send"), delay, "send")
        figures.trials += 1
        figures.killed += killed
        assert integrity(db) == "ok", f"trial {trial}: killed after {delay:.3f}s"
        if killed:
            at_kill = Counter(ledger(db).values())
            figures.at_kill["no delivery row yet" if not at_kill else
                            "in flight (a row left sending)" if at_kill["sending"] else
                            "between deliveries"] += 1
        _, again = run(command(config, "send"))
        assert again.returncode == 0, again.stderr
        time.sleep(0.05)  # a message the killed run had in flight may still be landing
        got, states = copies(roster), ledger(db)
        told = "\n".join(text_of(r.message) for r, digest in zip(smtp_server.received, digests, strict=False)
                         if not digest and any(a in r.raw.decode(errors="replace") for a in roster))
        figures.duplicated += sum(n - 1 for n in got.values() if n > 1)
        assert max(got.values()) <= 1, f"trial {trial}: a recipient got the digest twice"
        assert set(states.values()) <= {"sent", "unknown"}, states
        for address in roster:
            if states[address] == "sent":
                assert got[address] == 1
            else:  # unknown: not resent, and the chair was told
                assert f"to {address}: UNKNOWN" in told
                figures.extra["unknown, delivered" if got[address] else "unknown, not delivered"] += 1
            figures.lost += got[address] == 0 and states[address] != "unknown"
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT state FROM digests").fetchall() == [("sent",)]
        conn.close()

    figures.seconds = time.monotonic() - started
    print(figures.line())
    assert figures.trials >= 30 and figures.killed >= TRIALS // 2  # the rest ended before their kill time
    assert (figures.lost, figures.duplicated) == (0, 0)


# -- status sees damage -------------------------------------------------------------------


def test_status_reports_the_integrity_check(tmp_path: Path) -> None:
    """`status` runs SQLite's check: "ok" on a sound store, the damage on a broken one."""
    config = tmp_path / "c.toml"
    config.write_text('[store]\npath = "store.sqlite3"\n')
    mbox = tmp_path / "m.mbox"
    mbox.write_bytes(mbox_of([make_raw(n, body=BODY) for n in range(300)]))
    assert run(command(config, "import", str(mbox)))[1].returncode == 0
    sound = run(command(config, "status"))[1]
    assert sound.returncode == 0 and "(integrity ok)" in sound.stdout

    db = tmp_path / "store.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    [(root,)] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'message_raw'").fetchall()
    [(page_size,)] = conn.execute("PRAGMA page_size").fetchall()
    conn.close()
    data = bytearray(db.read_bytes())
    offset = (root - 1) * page_size  # the raw-message table's root page: its cell pointers, scrambled
    data[offset + 12: offset + 40] = b"\xff" * 28
    db.write_bytes(bytes(data))

    damaged = run(command(config, "status"))[1]

    assert damaged.returncode == 0 and "Traceback" not in damaged.stderr, damaged.stderr
    first = damaged.stdout.splitlines()[0]
    assert first.startswith(f"store: sqlite:///{db} (integrity ") and "(integrity ok)" not in first, first
    assert "malformed" in first or "page" in first.lower(), first
