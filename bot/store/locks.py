"""The file locks that keep two digestbots from doing the same work on one store.

`digestbot run` holds the store's lock for its whole run; `send` holds a lock
of its own, so a manual send and the scheduler's never deliver twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.errors import DigestbotError
from bot.settings import Settings


def lock_path(settings: Settings, purpose: str = "") -> Path | None:
    """Beside the SQLite file; for another database, beside the config (which guards one host only).

    `purpose` names a lock other than the store's own ("send": `store.sqlite3.send.lock`).
    None: a private in-memory database, which no other process can reach.
    """
    from bot.store.database import database_file

    suffix = f".{purpose}.lock" if purpose else ".lock"
    database = database_file(settings.store_url)
    if database is not None:
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        return Path(f"{database}{suffix}")
    name = hashlib.sha256(settings.store_url.encode()).hexdigest()[:12]
    return Path(settings.config_path or "digestbot.toml").parent / f".digestbot-{name}{suffix}"


@contextmanager
def holding(path: Path | None, wait: float, busy: Callable[[], DigestbotError]) -> Iterator[None]:
    """Hold the lock at `path` (none when None), waiting up to `wait` seconds; else raise `busy()`."""
    from filelock import FileLock, Timeout

    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=wait, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise busy() from None
    try:
        yield
    finally:
        lock.release()
