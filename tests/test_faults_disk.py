"""The disk fills up while the store is written: one clear line, nothing lost, the next run completes.

Two ways to fill it: a 2 MB tmpfs holding the store (needs root, as CI has),
and a 2 MB RLIMIT_FSIZE on the digestbot process (SIGXFSZ ignored, so a write
fails with EFBIG instead of killing it), which needs nothing. Each run is the
real command line in a subprocess.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from bot.mail.source import MboxSource
from bot.store.identity import message_id_of
from tests.helpers.dovecot import Dovecot, write_config
from tests.helpers.mailfactory import make_raw, mbox_of

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 2 * 1024 * 1024
COUNT = 600  # about 9 kB each: 5 MB, more than fits
BODY = "A line of list traffic, long enough to fill a small disk quickly.\n" * 130

# Runs the CLI under a file size limit when DIGESTBOT_TEST_FSIZE is set.
RUNNER = """
import os, resource, signal, sys
limit = os.environ.get("DIGESTBOT_TEST_FSIZE")
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
from bot.cli.main import main
main(sys.argv[1:])
"""


def digestbot(*args: str, fsize: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DIGESTBOT_CONFIG", None)
    env.pop("DIGESTBOT_TEST_FSIZE", None)
    if fsize is not None:
        env["DIGESTBOT_TEST_FSIZE"] = str(fsize)
    return subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


@contextlib.contextmanager
def small_tmpfs(path: Path) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={LIMIT},mode=0755", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the RLIMIT_FSIZE variant covers this")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def grow(path: Path) -> None:
    """Free space on the tmpfs: make it bigger, as an operator would clear the disk."""
    subprocess.run(["mount", "-o", "remount,size=64m", str(path)], check=True)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "WARNING" not in line]
    assert len(errors) == 1, result.stderr
    return errors[0]


def store_rows(db: Path) -> dict[str, tuple[str, str]]:
    """{Message-ID: (sha256 of the stored raw bytes, state)}, after a full integrity check."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute("SELECT m.message_id, r.raw, m.state FROM messages m JOIN message_raw r "
                            "ON r.message_pk = m.id").fetchall()
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (len(rows),)
    finally:
        conn.close()
    return {mid: (hashlib.sha256(raw).hexdigest(), state) for mid, raw, state in rows}


def shas(raws: Iterable[bytes]) -> dict[str, str]:
    """{Message-ID: sha256} of the bytes a source delivers."""
    return {message_id_of(raw): hashlib.sha256(raw).hexdigest() for raw in raws}


def from_mbox(path: Path) -> dict[str, str]:
    return shas(mail.raw for mail in MboxSource(path))


def from_dovecot(server: Dovecot) -> dict[str, str]:
    with server.client() as client:
        client.select_folder("INBOX", readonly=True)
        return shas(data[b"BODY[]"] for data in client.fetch(client.search(), ["BODY.PEEK[]"]).values())


def assert_complete(db: Path, expected: dict[str, str]) -> None:
    rows = store_rows(db)
    assert len(expected) == COUNT
    assert {mid: sha for mid, (sha, _) in rows.items()} == expected, "every message once, intact"
    assert {state for _, state in rows.values()} == {"parsed"}


@pytest.fixture()
def mbox(tmp_path: Path) -> Path:
    path = tmp_path / "big.mbox"
    path.write_bytes(mbox_of([make_raw(n, body=BODY) for n in range(COUNT)]))
    return path


@pytest.mark.parametrize("fill", ["tmpfs", "rlimit"])
@pytest.mark.timeout(300)
def test_import_onto_a_full_disk(tmp_path: Path, mbox: Path, fill: str) -> None:
    with contextlib.ExitStack() as stack:
        where = stack.enter_context(small_tmpfs(tmp_path / "disk")) if fill == "tmpfs" else tmp_path / "disk"
        where.mkdir(exist_ok=True)
        db = where / "store.sqlite3"
        config = tmp_path / "c.toml"
        config.write_text(f'[store]\npath = "{db}"\n')

        failed = digestbot("--config", str(config), "import", str(mbox), fsize=LIMIT if fill == "rlimit" else None)

        line = one_error_line(failed)
        assert line.startswith(f"digestbot: error: store sqlite:///{db}: ")
        assert ("database or disk is full" in line) if fill == "tmpfs" else ("disk I/O error" in line)
        assert line.endswith("everything stored before is kept") or "Everything stored before is kept" in line
        if fill == "tmpfs":
            grow(where)
        kept = store_rows(db)  # what the failed run committed is intact
        assert len(kept) < COUNT
        assert all(from_mbox(mbox)[mid] == sha for mid, (sha, _) in kept.items())

        again = digestbot("--config", str(config), "import", str(mbox))

        assert again.returncode == 0, again.stderr
        assert f"{COUNT} read, {COUNT - len(kept)} new, {len(kept)} already stored" in again.stdout
        assert_complete(db, from_mbox(mbox))
        status = digestbot("--config", str(config), "status")
        assert status.returncode == 0 and "(integrity ok)" in status.stdout


@pytest.mark.timeout(300)
def test_poll_onto_a_full_disk(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver_files("INBOX", [make_raw(n, body=BODY) for n in range(COUNT)])
    with small_tmpfs(tmp_path / "disk") as disk:
        db = disk / "store.sqlite3"
        config = write_config(tmp_path / "c.toml", dovecot, store=str(db), batch_size=50)

        line = one_error_line(digestbot("--config", str(config), "poll"))

        assert line.startswith(f"digestbot: error: store sqlite:///{db}: database or disk is full; ")
        grow(disk)
        kept = store_rows(db)
        assert len(kept) < COUNT
        conn = sqlite3.connect(db)
        [(last_uid,)] = conn.execute("SELECT last_uid FROM sync_state WHERE folder = 'INBOX'").fetchall() or [(0,)]
        conn.close()
        assert last_uid <= len(kept)  # the sync state never runs ahead of what is stored

        again = digestbot("--config", str(config), "poll")

        assert again.returncode == 0, again.stderr
        assert f"INBOX: {COUNT - len(kept)} new" in again.stdout
        assert_complete(db, from_dovecot(dovecot))
        assert dovecot.unseen("INBOX") == COUNT
