"""Child processes that die with the process that started them, however it dies.

A parse worker of `import` or `poll`, or the forked child of `draft`, waits on
a pipe from its parent. When the parent is killed outright (cron's timeout,
the OOM killer, systemd's SIGKILL) nothing closes that pipe's other users, so
the child would sleep forever, reparented to init, holding its own store
connection (and, on SQLite, keeping the WAL from being checkpointed).

Each such child calls `die_with_parent` first thing. On Linux the kernel does
the work: PR_SET_PDEATHSIG sends the child SIGKILL the moment its parent dies,
with no thread, no polling and nothing to go wrong in the child. SIGKILL, not
SIGTERM, because the child holds nothing worth finishing: a parse worker's
writes are single transactions (SQLite rolls a killed one back) and the next
run redoes what was in flight, as after any kill. Where prctl is missing, a
daemon thread notices the new parent pid within a second and exits the same
way.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_WATCH_SECONDS = 1.0


def die_with_parent(parent: int) -> None:
    """Arrange for this (child) process to be killed when process `parent` dies.

    `parent` is the pid the parent had before the fork: if it has already died
    (before the signal was armed, so the kernel would never send it), exit now.
    """
    if not _arm_pdeathsig():
        threading.Thread(target=_watch, args=(parent,), name="lifeline", daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)


def _arm_pdeathsig() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The process's own symbols, libc's among them (ctypes.util.find_library would run ldconfig in every worker).
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)
