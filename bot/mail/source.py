"""Sources deliver raw messages; they know nothing of parsing or storage.

A source is any iterable of `RawMail` with a `total_bytes` hint for progress.
The IMAP source (ImapFolderSource in bot/imap/session.py) has the same shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from bot.errors import SourceError
from bot.model import RawMail

# A message ends at a blank line followed by a "From " line (the next message's separator).
_SEPARATOR = re.compile(rb"\n\r?\nFrom ")
# mboxrd escapes a body line "From " as ">From "; one ">" comes off on reading.
_ESCAPED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)
CHUNK = 1 << 20  # bytes read at a time; a message larger than the buffer doubles it


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
        """Messages between separators, found in large chunks by one regex rather than line by line."""
        buffer = handle.read(max(CHUNK, len(b"From ")))
        # `start`: where the current message's text begins; None while its separator line (at
        # `separator`) is not read to its end. Text before a first separator is a message too.
        start: int | None = None if buffer.startswith(b"From ") else 0
        separator = index = 0
        while True:
            if start is None and (end := buffer.find(b"\n", separator)) >= 0:
                start = end + 1
                continue
            if start is not None and (found := _SEPARATOR.search(buffer, max(start - 1, 0))):
                yield RawMail(_unescaped(buffer[start : found.start() + 1]), f"mbox:{self.path}#{index}")
                index += 1
                start, separator = None, found.end() - len(b"From ")
                continue
            keep = separator if start is None else max(start - 1, 0)  # the message being read, and no more
            unread = buffer[keep:]
            more = handle.read(max(CHUNK, len(unread)))  # doubling: a huge message still costs linear time
            if not more:
                break
            buffer = unread + more
            separator, start = separator - keep, None if start is None else start - keep
        rest = b"" if start is None else buffer[start:]
        if rest.strip():
            yield RawMail(_unescaped(_without_last_blank_line(rest)), f"mbox:{self.path}#{index}")


def _without_last_blank_line(text: bytes) -> bytes:
    # The blank line before the next "From " separator belongs to the mbox, not the message.
    for blank in (b"\n\n", b"\n\r\n"):
        if text.endswith(blank):
            return text[: len(text) - len(blank) + 1]
    return b"" if text in (b"\n", b"\r\n") else text


def _unescaped(text: bytes) -> bytes:
    return _ESCAPED_FROM.sub(rb"\1", text) if b">From " in text else text


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
