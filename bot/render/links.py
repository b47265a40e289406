"""A summary sentence's `[n]` references, kept as links in Markdown and HTML.

The clean stage writes a marker whose reference the author listed at the end
of the message as "reviewed[2](https://...)" (bot/pipeline/clean.py). The JSON
digest carries the plain sentence ("reviewed before ...", what a reader and
`hygiene.py` read) and its links beside it, each with the offset where its
marker stood; Markdown and HTML put the marker back there as a link, the text
format leaves it out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import markupsafe

# The URL stops at anything that could close a Markdown link target or an HTML attribute.
_LINKED_MARKER = re.compile(r"\[(\d{1,2})\]\(((?:https?|ftp)://[^\s<>()\[\]\"'`]+)\)")


def unlinked(text: str) -> tuple[str, list[dict[str, Any]]]:
    """*text* without its "[n](URL)" references, and each one: marker, URL and its offset in the plain text."""
    if "](" not in text:
        return text, []
    plain: list[str] = []
    links: list[dict[str, Any]] = []
    start = length = 0
    for match in _LINKED_MARKER.finditer(text):
        before = text[start : match.start()].rstrip(" ")  # "says [1]." reads "says." and shows "says[1]."
        plain.append(before)
        length += len(before)
        links.append({"marker": match[1], "url": match[2], "at": length})
        start = match.end()
    plain.append(text[start:])
    return "".join(plain), links


def linked_text(sentence: dict[str, Any], escape: Callable[[str], str], link: Callable[[str, str], str]) -> str:
    """The sentence's text, *escape*d, with each of its references put back at its place as *link*(marker, URL)."""
    text: str = sentence["text"]
    pieces: list[str] = []
    start = 0
    for ref in sentence.get("links", ()):
        pieces += [escape(text[start : ref["at"]]), link(ref["marker"], ref["url"])]
        start = ref["at"]
    return "".join([*pieces, escape(text[start:])])


def md_link(marker: str, url: str) -> str:
    return f"[\\[{marker}\\]](<{url}>)"


def html_link(marker: str, url: str) -> str:
    return str(markupsafe.Markup('<a href="{}">[{}]</a>').format(url, marker))
