"""The chunked mbox reader splits exactly as a plain line-by-line mboxrd reader does.

`line_by_line` below is the reference: the reader digestbot had before, which
walked every line in Python. The chunked one must agree with it on every
input, whatever the chunk size, including separators, blank lines, CRLF and
">From " escapes that straddle chunk boundaries.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.mail import source
from bot.mail.source import MboxSource

_ESCAPED = re.compile(rb"^>(>*From )")


def line_by_line(data: bytes) -> list[bytes]:
    """Messages of an mbox, line by line: "From " after a blank line (or first) starts one."""
    out: list[bytes] = []
    lines: list[bytes] = []
    previous_blank = True
    for line in re.findall(rb"[^\n]*\n|[^\n]+$", data):  # as a binary file iterates: on "\n" only
        if previous_blank and line.startswith(b"From "):
            if lines:
                out.append(_finish(lines))
            lines, previous_blank = [], False
            continue
        previous_blank = line in (b"\n", b"\r\n")
        lines.append(_ESCAPED.sub(rb"\1", line) if line.startswith(b">") else line)
    if lines and any(line.strip() for line in lines):
        out.append(_finish(lines))
    return out


def _finish(lines: list[bytes]) -> bytes:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(lines)


LINES = st.sampled_from([
    b"From a@b Mon Jan  1 00:00:00 2024\n", b"From \n", b"From x\r\n", b">From quoted\n", b">>From deeper\n",
    b">not from\n", b"\n", b"\r\n", b"Subject: hi\n", b"body text\n", b"body\r\n", b"From", b"  \n", b"x",
])


def chunked(data: bytes, tmp_path: Path) -> list[bytes]:
    path = tmp_path / "box.mbox"
    path.write_bytes(data)
    return [mail.raw for mail in MboxSource(path)]


@settings(max_examples=400, deadline=None)
@given(st.lists(LINES, max_size=40).map(b"".join), st.sampled_from([1, 2, 5, 17, 1 << 20]))
def test_chunked_reader_matches_the_line_reader(tmp_path_factory: pytest.TempPathFactory, body: bytes,
                                                chunk: int) -> None:
    data = b"From first@example.org Mon Jan  1 00:00:00 2024\n" + body
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source, "CHUNK", chunk)
        assert chunked(data, tmp_path_factory.mktemp("mbox")) == line_by_line(data)


def test_real_shaped_mbox_with_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    messages = [b"Subject: %d\r\n\r\nline\r\n>From escaped\r\ntext\r\nFrom a line, not after a blank\n" % n
                for n in range(50)]
    data = b"".join(b"From sender Mon Jan  1 00:00:00 2024\n" + m + b"\n" for m in messages)
    monkeypatch.setattr(source, "CHUNK", 64)
    got = chunked(data, tmp_path)
    assert got == line_by_line(data)
    assert len(got) == 50
    assert got[7] == b"Subject: 7\r\n\r\nline\r\nFrom escaped\r\ntext\r\nFrom a line, not after a blank\n"
