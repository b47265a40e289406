"""A fast reader for the shapes most list mail has, identical to compat32's parser on them.

`email.message_from_bytes` (compat32) costs most of an import: a line
buffer, a regex test per line, a generator per part and a freshly compiled
regex per multipart boundary. List mail is nearly always a single part or
one level of multipart (alternative, signed, mixed) with leaf parts, so
`read_message` reads exactly those shapes with the feedparser's own rules
(same line splitting, header folding, boundary matching and newline
trimming) and returns None for anything else (nested or message/* parts,
multipart/digest, a header the parser would flag as a defect, doubled
boundaries), which the caller then gives to the full parser.

Only the headers the pipeline reads are kept (`KEPT_HEADERS`): every lookup
scans a short list. Preambles, epilogues and defects are not kept.
"""

from __future__ import annotations

import io
import re
from email.message import Message

# feedparser.headerRE: a header, a continuation line, or an mbox "From " line.
_HEADER_LINE = re.compile(r"^(From |[\041-\071\073-\176]*:|[\t ])")
_EOL = re.compile(r"(\r\n|\r|\n)\Z")  # feedparser.NLCRE_eol
_LINE_ENDS = frozenset({"", "\n", "\r\n", "\r"})
_NONE, _SEPARATOR, _CLOSE = 0, 1, 2


def read_message(raw: bytes, kept_headers: frozenset[str]) -> Message | None:
    """`raw` as `email.message_from_bytes` reads it (headers limited to `kept_headers`), or None."""
    text = raw.decode("ascii", "surrogateescape")  # as BytesParser does
    lines = io.StringIO(text, newline="").readlines()  # as the parser's line buffer splits: \n, \r\n, \r
    found = _headers(lines, 0, len(lines), kept_headers)
    if found is None:
        return None
    msg, body = found
    maintype = msg.get_content_maintype()
    if maintype == "message":
        return None
    if maintype != "multipart":
        msg.set_payload("".join(lines[body:]))
        return msg
    return msg if _parts(msg, lines, body, kept_headers) else None


def _headers(lines: list[str], start: int, end: int, kept: frozenset[str]) -> tuple[Message, int] | None:
    """The headers in lines[start:end] and the index of the first body line (feedparser._parsegen)."""
    stop = body = end
    for index in range(start, end):
        line = lines[index]
        if not _HEADER_LINE.match(line):
            if line[0] not in "\r\n":
                return None  # MissingHeaderBodySeparatorDefect
            stop, body = index, index + 1
            break
    msg = _header_block(lines, start, stop, kept)
    return (msg, body) if msg is not None else None


def _header_block(lines: list[str], start: int, stop: int, kept: frozenset[str]) -> Message | None:
    """feedparser._parse_headers on lines[start:stop]; None where it would record a defect."""
    msg = Message()
    name = ""
    value: list[str] | None = None  # the lines of the header being read, if the pipeline reads it
    for index in range(start, stop):
        line = lines[index]
        if line[0] in " \t":
            if not name:
                return None  # FirstHeaderLineIsContinuationDefect
            if value is not None:
                value.append(line)
            continue
        if value is not None:
            _keep(msg, name, value)
            value = None
        name = ""
        if line.startswith("From "):
            if index != start:
                return None  # a misplaced unix-from, or the first body line
            msg.set_unixfrom(_EOL.sub("", line))
            continue
        name = line.partition(":")[0]
        if not name:
            return None  # "Missing header name."
        if name.lower() in kept:  # the rest (List-*, DKIM, X-...) are read past, not gathered
            value = [line]
    if value is not None:
        _keep(msg, name, value)
    return msg


def _keep(msg: Message, name: str, lines: list[str]) -> None:
    """compat32.header_source_parse, for a header the pipeline reads."""
    value = lines[0].split(":", 1)[1].lstrip(" \t") + "".join(lines[1:])
    msg.set_raw(name, value.rstrip("\r\n"))


def _parts(msg: Message, lines: list[str], start: int, kept: frozenset[str]) -> bool:
    """Attach the leaf parts of a one-level multipart; False for anything else."""
    boundary = msg.get_boundary()
    if boundary is None or msg.get_content_type() == "multipart/digest":
        return False
    separator = "--" + boundary
    end = len(lines)
    index = start
    while index < end and _boundary(lines[index], separator) == _NONE:
        index += 1  # the preamble
    if index == end or _boundary(lines[index], separator) == _CLOSE:
        return False  # StartBoundaryNotFoundDefect: the payload would be text
    while True:
        index += 1  # past a separator
        if index < end and _boundary(lines[index], separator) != _NONE:
            return False  # doubled boundary lines
        stop = index
        while stop < end and _boundary(lines[stop], separator) == _NONE:
            stop += 1
        part = _leaf(lines, index, stop, kept)
        if part is None:
            return False
        msg.attach(part)
        if stop == end or _boundary(lines[stop], separator) == _CLOSE:
            return True  # the epilogue (or a missing close boundary) does not matter here
        index = stop


def _boundary(line: str, separator: str) -> int:
    """What feedparser's boundary regex makes of `line`: not a boundary, a separator, or the close."""
    if not line.startswith(separator):
        return _NONE
    rest = line[len(separator) :]
    if rest.startswith("--") and rest[2:].lstrip(" \t") in _LINE_ENDS:
        return _CLOSE
    return _SEPARATOR if rest.lstrip(" \t") in _LINE_ENDS else _NONE


def _leaf(lines: list[str], start: int, stop: int, kept: frozenset[str]) -> Message | None:
    """A leaf part from lines[start:stop], its payload without the newline that belongs to the boundary."""
    found = _headers(lines, start, stop, kept)
    if found is None:
        return None
    part, body = found
    if part.get_content_maintype() in ("multipart", "message"):
        return None
    part.set_payload(_EOL.sub("", "".join(lines[body:stop]), count=1))
    return part
