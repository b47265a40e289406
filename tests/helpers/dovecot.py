"""A throwaway Dovecot for the IMAP integration tests, and a fault-injecting proxy.

Everything lives under one temporary directory (config, passwd-file, Maildir,
sockets, log) and listens on a free 127.0.0.1 port only. Missing Dovecot is a
test failure that names the install command, never a skip: CI must run these.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from imapclient import IMAPClient

INSTALL_HINT = "Dovecot is needed for the IMAP tests. Run: sudo apt-get install -y dovecot-imapd (or: make system-deps)"
USER = "bot"
PASSWORD = "s3cret-Pa55"  # tests assert this never appears in output or logs
MAIL_USER = "dovecot"  # mail must not be accessed as uid 0; see notes/test-servers.md

CONFIG = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = {ssl}
{ssl_files}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{base}/mail/%u
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={base}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {ssl_port}
    ssl = yes
  }}
}}
{extra}
"""


def dovecot_binary() -> str:
    """The dovecot executable; a clear failure (not a skip) when it is missing."""
    found = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None)
    if not found:
        raise RuntimeError(INSTALL_HINT)
    return found


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different free ports: each socket stays bound until all are chosen (else the kernel may
    hand the same just-released port out twice, and Dovecot refuses a duplicate listener)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


class Dovecot:
    """One Dovecot master in the foreground, owned by the test that started it.

    Without `tls` it speaks plain IMAP only (no STARTTLS); with it, a trustme
    certificate for 127.0.0.1 serves STARTTLS on `port` and implicit TLS on
    `ssl_port`, and `ca_file` is the CA that signed it. `extra` is appended to
    the config (e.g. to hide a capability).
    """

    def __init__(self, *, tls: bool = False, extra: str = "") -> None:
        self.binary = dovecot_binary()  # first: a missing Dovecot fails here, leaving nothing behind
        # Not pytest's tmp_path: Dovecot's unprivileged processes must traverse
        # every parent directory, and pytest's are private (0700).
        self.base = Path(tempfile.mkdtemp(prefix="digestbot-dovecot-"))
        self.base.chmod(0o755)
        self.host = "127.0.0.1"
        self.port, self.ssl_port = free_ports(2)
        self.user = USER
        self.password = PASSWORD
        self.ca_file: Path | None = None
        self.cert: tuple[Path, Path] | None = None
        if tls:
            self.ca_file, *files = tls_files(self.base)
            self.cert = (files[0], files[1])
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        self._write_files()

    # -- lifecycle --------------------------------------------------------

    def _write_files(self) -> None:
        for sub in ("run", "state", "mail"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        ssl_files = f"ssl_cert = <{self.cert[0]}\nssl_key = <{self.cert[1]}" if self.cert else ""
        (self.base / "dovecot.conf").write_text(CONFIG.format(
            base=self.base, ssl="yes" if self.cert else "no", ssl_files=ssl_files, mail_user=MAIL_USER,
            port=self.port, ssl_port=self.ssl_port, extra=self.extra,
        ))
        shutil.chown(self.base / "mail", MAIL_USER, MAIL_USER)

    def start(self) -> Dovecot:
        conf = self.base / "dovecot.conf"
        self.process = subprocess.Popen([self.binary, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self._failure("dovecot exited during start-up"))
            if self._greets():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(self._failure("dovecot did not answer on its port within 10s"))

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop every process of this instance and wait, so the port can be reused at once.

        SIGTERM to the whole process group (our own session): the master alone
        takes a second or more to wind its children down.
        """
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(self.process.pid):
            time.sleep(0.01)
        if self.process.stdout:
            self.process.stdout.close()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.base / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    def _failure(self, what: str) -> str:
        output = ""
        if self.process is not None and self.process.poll() is not None and self.process.stdout:
            output = self.process.stdout.read().decode(errors="replace")
        return f"{what}\n--- dovecot output ---\n{output}\n--- dovecot log ---\n{self.log()}"

    # -- mail -------------------------------------------------------------

    def client(self) -> IMAPClient:
        """A plain admin connection (the subscriber's own mail client)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def create_folder(self, folder: str) -> None:
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.select_folder(folder, readonly=True)  # makes Dovecot create the Maildir (INBOX too)

    def deliver(self, folder: str, messages: Iterable[bytes]) -> None:
        """APPEND messages, unseen, as the list server's delivery would leave them."""
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in messages:
                client.append(folder, raw)

    def deliver_files(self, folder: str, messages: Iterable[bytes]) -> None:
        """Write messages straight into the Maildir's new/ (fast bulk loading)."""
        self.create_folder(folder)
        box = self.base / "mail" / self.user
        if folder != "INBOX":
            box = box / ("." + folder.replace("/", "."))
        stamp = int(time.time())
        for index, raw in enumerate(messages):
            name = f"{stamp}.M{index}P{os.getpid()}.digestbot-test"
            (box / "tmp" / name).write_bytes(raw)
            shutil.chown(box / "tmp" / name, MAIL_USER, MAIL_USER)
            os.rename(box / "tmp" / name, box / "new" / name)

    def recreate_folder(self, folder: str) -> None:
        """Give `folder` a new UIDVALIDITY, keeping its messages (and their unseen state)."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search()
            messages = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            client.unselect_folder()
            client.delete_folder(folder)
            client.create_folder(folder)
            for uid in sorted(messages):
                client.append(folder, messages[uid][b"BODY[]"])

    def unseen(self, folder: str) -> int:
        with self.client() as client:
            return int(client.folder_status(folder, ["UNSEEN"])[b"UNSEEN"])

    def uidvalidity(self, folder: str) -> int:
        with self.client() as client:
            return int(client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def imap_pids(self) -> list[int]:
        """The per-connection `imap` processes of this instance (children of our master)."""
        if self.process is None:
            return []
        out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(self.process.pid)],
                             capture_output=True, text=True, check=False).stdout
        return [int(line.split()[0]) for line in out.splitlines() if line.split()[1:] == ["imap"]]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def tls_files(base: Path) -> tuple[Path, Path, Path]:
    """A trustme CA and a server certificate for 127.0.0.1: (ca.pem, cert.pem, key.pem)."""
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = (base / "ca.pem", base / "cert.pem", base / "key.pem")
    ca.cert_pem.write_to_path(str(paths[0]))
    server.private_key_and_cert_chain_pem.write_to_path(str(paths[1]))  # cert file may hold the key too
    server.private_key_pem.write_to_path(str(paths[2]))
    for path in paths:
        os.chmod(path, 0o644)
    return paths


class Proxy:
    """A TCP relay in front of Dovecot that records commands and injects faults.

    It sees the plain protocol (use it without TLS): `commands` lists each
    command the client sent, tag stripped, e.g. "EXAMINE INBOX". A fault armed
    with `after_bytes(n, action)` fires once the server has sent n bytes on one
    connection; "cut" closes that connection, "stall" stops relaying it, and a
    callable is run there and then, while the relay holds the response (e.g.
    to kill or restart the server mid-FETCH).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.commands: list[str] = []
        self.connections = 0
        self._fault: tuple[int, str | Callable[[], None]] | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._acceptor = accept_in_background(self.listener, self._accept)

    def after_bytes(self, count: int, action: str | Callable[[], None]) -> None:
        self._fault = (count, action)

    def close(self) -> None:
        self._closed = True
        stop_listening(self.listener, self._acceptor)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(client)
            try:
                server = stack.enter_context(socket.create_connection(("127.0.0.1", self.target_port), timeout=5))
            except OSError:
                return
            self._pump(client, server)

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        import selectors

        down = 0
        pending = b""
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ)
            selector.register(server, selectors.EVENT_READ)
            while not self._closed:
                for key, _ in selector.select(timeout=0.2):
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = sock.recv(65536)
                        if not data:
                            return
                        if sock is client:
                            pending = self._record(pending + data)
                            server.sendall(data)
                            continue
                        down += len(data)
                        action = self._due(down)
                        if action == "cut":
                            return
                        client.sendall(data)
                        if action == "stall":
                            self._hold(client)
                            return
                    except OSError:
                        return

    def _due(self, down: int) -> str | None:
        """The armed fault's action once `down` bytes have passed; it fires once."""
        with self._lock:
            if self._fault is None or down < self._fault[0]:
                return None
            action = self._fault[1]
            self._fault = None
        if callable(action):
            action()  # inline: the relay holds the rest of the response until it is done
            return None
        return action

    def _hold(self, client: socket.socket) -> None:
        """Keep the client's connection open but silent until it gives up."""
        while not self._closed:
            try:
                if not client.recv(65536):
                    return
            except OSError:
                return

    def _record(self, buffer: bytes) -> bytes:
        *lines, rest = buffer.split(b"\r\n")
        for line in lines:
            parts = line.split(b" ", 1)
            if len(parts) == 2 and parts[0] and parts[0] != b"DONE":
                command = parts[1].decode(errors="replace")
                self.commands.append("LOGIN" if command.upper().startswith("LOGIN") else command)
        return rest


def write_config(path: Path, server: Dovecot, *, port: int | None = None, store: str = "store.sqlite3",
                 **source: object) -> Path:
    """A digestbot TOML config that reads `server` (plain IMAP unless `source` says otherwise).

    The password goes in a file next to the config, never in the config itself.
    """
    secret = path.parent / "imap-password"
    secret.write_text(server.password + "\n")
    values: dict[str, object] = {"host": server.host, "port": port or server.port, "tls": "none",
                                 "username": server.user, "password_file": str(secret), "folders": ["INBOX"],
                                 "timeout": 5.0, "idle_seconds": 1, **source}
    lines = ["[store]", f"path = {_toml(store)}", "[source]"] + [f"{k} = {_toml(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


_listening: dict[socket.socket, threading.Thread] = {}  # test servers' listeners and their accept threads


def accept_in_background(listener: socket.socket, accept: Callable[[], None]) -> threading.Thread:
    """Run `accept` (a loop on `listener.accept()`) in a thread that stop_listening ends."""
    thread = threading.Thread(target=accept, daemon=True)
    _listening[listener] = thread
    thread.start()
    return thread


def stop_listening(listener: socket.socket, acceptor: threading.Thread) -> None:
    """Close a listening socket and end the thread blocked in its accept().

    Closing alone does not wake an accept() on Linux: the thread would outlive the
    test (and a process with other threads running must not fork: see bot.parallel).
    """
    _listening.pop(listener, None)
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    acceptor.join(timeout=10)


def stop_every_listener() -> None:
    """What a test left listening (it failed before its close()): stopped after the test."""
    for listener, acceptor in list(_listening.items()):
        stop_listening(listener, acceptor)
