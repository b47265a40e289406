"""A throwaway PostgreSQL cluster for the store tests, one per test session.

Debian's server binaries (/usr/lib/postgresql/N/bin) run as the `postgres`
user when the tests run as root (the server refuses root), in a temporary
directory that user owns, on a free 127.0.0.1 port, with its Unix socket in
that directory too. Every test gets a fresh database of its own, dropped
afterwards. A missing PostgreSQL is a test failure that names the install
command, never a skip: CI must run these. See ../shared/notes/test-servers.md.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

INSTALL_HINT = ("PostgreSQL is needed for the store tests: its server binaries were not found under "
                "/usr/lib/postgresql/*/bin. Run: make system-deps (or: sudo apt-get install -y postgresql)")
SERVER_USER = "postgres"  # the user Debian's package creates; the server will not run as root
ADMIN, ADMIN_PASSWORD = "postgres", "admin-Pa55"
USER, PASSWORD = "digestbot", "pg-Pa55word"  # the role the store connects as, with a real password check
SERVER_TIMEZONE = "America/St_Johns"


def server_binaries() -> Path:
    """The directory holding initdb and pg_ctl: the newest Debian version, else whatever is on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    raise FileNotFoundError(INSTALL_HINT)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Postgres:
    """One cluster: `start()`, then `create_database()` per test, `stop()` at the end."""

    def __init__(self) -> None:
        self.bin = server_binaries()  # first: a missing PostgreSQL fails here, leaving nothing behind
        self.as_root = os.geteuid() == 0
        # Not pytest's tmp_path: the server user must own its directory and traverse its parents.
        self.base = Path(tempfile.mkdtemp(prefix="digestbot-postgres-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.port = 0
        self.running = False
        self._names = itertools.count(1)

    # -- the cluster ----------------------------------------------------------

    def start(self) -> Postgres:
        if self.as_root:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.base, account.pw_uid, account.pw_gid)
        self.base.chmod(0o700)
        password_file = self.base / "admin-password"
        password_file.write_text(ADMIN_PASSWORD + "\n")
        if self.as_root:
            os.chown(password_file, account.pw_uid, account.pw_gid)
        # Local socket connections trusted (nobody else can reach this directory); TCP checks passwords.
        self._run("initdb", "-D", str(self.data), "-U", ADMIN, "--auth-local=trust",
                  "--auth-host=scram-sha-256", f"--pwfile={password_file}", "--no-sync", "-E", "UTF8",
                  "--locale=C.UTF-8")
        for _attempt in range(3):  # a free port can be taken between asking and binding
            self.port = free_port()
            # Durability is not under test: without fsync, creating a database per test is cheap.
            # A server time zone far from UTC (-02:30): a store must read UTC whatever the server's zone.
            options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                       f"-c synchronous_commit=off -c full_page_writes=off -c timezone={SERVER_TIMEZONE}")
            started = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                                "-t", "30", "start", check=False)
            if started.returncode == 0:
                self.running = True
                break
        else:
            raise RuntimeError(self._failure("pg_ctl start failed three times"))
        with self._admin() as conn:
            conn.execute(f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'")
        return self

    def stop(self) -> None:
        try:
            if self.running:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
                self.running = False
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        extra: dict[str, Any] = {}
        if self.as_root:
            extra = {"user": SERVER_USER, "group": SERVER_USER, "extra_groups": []}
        done = subprocess.run([str(self.bin / program), *args], cwd=self.base, capture_output=True, text=True,
                              timeout=60, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, check=False, **extra)
        if check and done.returncode != 0:
            raise RuntimeError(self._failure(f"{program} exited with {done.returncode}: {done.stderr.strip()}"))
        return done

    def _failure(self, what: str) -> str:
        log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"
        return f"{what}\n--- {self.log} ---\n{log}"

    @contextlib.contextmanager
    def _admin(self) -> Iterator[Any]:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=ADMIN, password=ADMIN_PASSWORD,
                             dbname="postgres", autocommit=True) as conn:
            yield conn

    # -- databases ------------------------------------------------------------

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database owned by the store's role; its SQLAlchemy URL."""
        name = f"store_{next(self._names)}"
        with self._admin() as conn:
            conn.execute(f"CREATE DATABASE {name} OWNER {USER} TEMPLATE template0 ENCODING 'UTF8'")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """FORCE: a test's engine may still hold pooled connections to it."""
        with self._admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {url.rpartition('/')[2]} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Postgres]:
    """A running PostgreSQL cluster on a free 127.0.0.1 port; fails (never skips) without PostgreSQL."""
    try:
        cluster = Postgres()
    except FileNotFoundError:
        cluster = None
    if cluster is None:  # failed outside the except block: the hint once, without a chained traceback
        pytest.fail(INSTALL_HINT, pytrace=False)
    if importlib.util.find_spec("psycopg") is None:
        pytest.fail("the PostgreSQL driver is not installed. Run: pip install -e '.[postgres]' (make test does)",
                    pytrace=False)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture()
def postgres_url(postgres_cluster: Postgres) -> Iterator[str]:
    """`postgresql+psycopg://digestbot:...@127.0.0.1:PORT/store_N`: a fresh database for one test."""
    url = postgres_cluster.create_database()
    try:
        yield url
    finally:
        postgres_cluster.drop_database(url)
