"""The Atom 1.0 feed of the archive (RFC 4287), written with the standard library.

ElementTree escapes every text and attribute; what XML 1.0 cannot hold at all
(control characters) is dropped first. Nothing reads the clock: the feed's
`updated` is its newest entry's, so the same digests give the same bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

ATOM = "http://www.w3.org/2005/Atom"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # `updated` of a feed with no entry yet
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class FeedEntry:
    id: str
    title: str
    url: str
    updated: datetime
    summary: str
    author: str


@dataclass(frozen=True, slots=True)
class FeedHead:
    id: str
    title: str
    self_url: str
    index_url: str
    author: str


def entry_id(mail_message_id: str) -> str:
    """A permanent id: the digest mail's Message-ID as a `mid:` URI (RFC 2392); a correction keeps it."""
    return "mid:" + quote(mail_message_id.strip().strip("<>"), safe="@!$&'()*+,;=-._~")


def atom_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom_feed(head: FeedHead, entries: Sequence[FeedEntry]) -> bytes:
    """The feed document, entries in the order given (newest first)."""
    feed = ET.Element("feed", {"xmlns": ATOM})  # the default namespace, so attributes stay plain
    _text(feed, "id", head.id)
    _text(feed, "title", head.title)
    _text(feed, "updated", atom_time(max((e.updated for e in entries), default=EPOCH)))
    _link(feed, head.self_url, "self", "application/atom+xml")
    _link(feed, head.index_url, "alternate", "text/html")
    _text(ET.SubElement(feed, "author"), "name", head.author)
    _text(feed, "generator", "digestbot")
    for item in entries:
        entry = ET.SubElement(feed, "entry")
        _text(entry, "id", item.id)
        _text(entry, "title", item.title)
        _text(entry, "updated", atom_time(item.updated))
        _text(entry, "published", atom_time(item.updated))
        _link(entry, item.url, "alternate", "text/html")
        if item.author:
            _text(ET.SubElement(entry, "author"), "name", item.author)
        _text(entry, "summary", item.summary)
    ET.indent(feed)
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _text(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, name).text = _NOT_XML.sub("", value)


def _link(parent: ET.Element, href: str, rel: str, kind: str) -> None:
    ET.SubElement(parent, "link", {"rel": rel, "type": kind, "href": _NOT_XML.sub("", href)})
