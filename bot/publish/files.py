"""Files of the site, each replaced whole or not at all, and only when its bytes change.

A reader (or a web server) sees the old file or the new one, never a part:
each file is written to a temporary file beside it, flushed to disk, then
renamed over the old one. A file whose bytes are unchanged is not touched, so
publishing again with nothing new leaves every file (and its mtime) as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".publishing"  # a file killed halfway: removed by the next publish


def write_if_changed(path: Path, data: bytes) -> bool:
    """Replace `path` with `data` atomically unless it holds `data` already; whether it was written."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the page from the web server
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def sync_folder(folder: Path) -> None:
    """Make the renames in `folder` durable (a crash after this keeps the new names)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_leftovers(folder: Path) -> int:
    """Remove temporary files a killed publish left behind (the caller holds the publish lock); how many."""
    found = [path for path in folder.glob(f".*{TEMP_SUFFIX}") if path.is_file()]
    for path in found:
        path.unlink(missing_ok=True)
    return len(found)
