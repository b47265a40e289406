"""Sources deliver raw messages; they know nothing of parsing or storage.

A source is any iterable of `RawMail` with a `total_bytes` hint for progress.
The IMAP source (ImapFolderSource in bot/imap_session.py) has the same shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from bot.errors import SourceError
from bot.model import RawMail

_FROM_LINE = re.compile(rb"^From \S*")
# mboxrd escapes a body line "From " as ">From "; one ">" comes off on reading.
_ESCAPED_FROM = re.compile(rb"^>(>*From )")


class Source(Protocol):
    total_bytes: int

    def __iter__(self) -> Iterator[RawMail]: ...


class MboxSource:
    """Streams an mbox file message by message, in constant memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.total_bytes = path.stat().st_size

    def __iter__(self) -> Iterator[RawMail]:
        try:
            with self.path.open("rb") as handle:
                yield from self._messages(handle)
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot read mbox: {exc.strerror}") from None

    def _messages(self, handle: BinaryIO) -> Iterator[RawMail]:
        lines: list[bytes] = []
        index = 0
        previous_blank = True
        for line in handle:
            if previous_blank and line.startswith(b"From ") and _FROM_LINE.match(line):
                if lines:
                    yield RawMail(_finish(lines), f"mbox:{self.path}#{index}")
                    index += 1
                lines = []
                previous_blank = False
                continue
            previous_blank = line in (b"\n", b"\r\n")
            lines.append(_ESCAPED_FROM.sub(rb"\1", line) if line.startswith(b">") else line)
        if lines and any(line.strip() for line in lines):
            yield RawMail(_finish(lines), f"mbox:{self.path}#{index}")


def _finish(lines: list[bytes]) -> bytes:
    # The blank line before the next "From " separator belongs to the mbox, not the message.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(lines)


class MaildirSource:
    """Reads every message in a Maildir's cur/ and new/, in file-name order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files = sorted(
            (f for sub in ("cur", "new") for f in (path / sub).iterdir() if f.is_file()),
            key=lambda f: f.name,
        )
        self.total_bytes = sum(f.stat().st_size for f in self.files)

    def __iter__(self) -> Iterator[RawMail]:
        for file in self.files:
            try:
                yield RawMail(file.read_bytes(), f"maildir:{file}")
            except OSError as exc:
                raise SourceError(f"{file}: cannot read message: {exc.strerror}") from None


class FileSource:
    """One message per file (an .eml), for single messages and test corpora."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.total_bytes = path.stat().st_size

    def __iter__(self) -> Iterator[RawMail]:
        yield RawMail(self.path.read_bytes(), f"file:{self.path}")


def open_source(path: Path) -> Source:
    """An mbox file, a Maildir folder, or a single message file."""
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            return MaildirSource(path)
        raise SourceError(f"{path}: a folder but not a Maildir (no cur/ and new/)")
    with path.open("rb") as handle:
        first = handle.readline()
    if first.startswith(b"From "):
        return MboxSource(path)
    return FileSource(path)
