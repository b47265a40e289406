"""Where a digest's page lives: a name fixed for the digest's whole life.

The send step links to the page before `publish` writes it, so the name can
depend only on what never changes for a digest: its id, and the start of its
period as the pipeline wrote it (in the list's timezone) in the stored JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
INDEX, FEED = "index.html", "feed.xml"


def page_name(digest_id: int, digest: Mapping[str, Any]) -> str:
    """"2014-08-18-3": the period's first day, then the id (two digests never share a name)."""
    period = digest.get("period")
    start = str(period.get("start", "")) if isinstance(period, Mapping) else ""
    day = _DAY.match(start)
    return f"{day.group()}-{digest_id}" if day else f"digest-{digest_id}"


def site_url(base_url: str, file_name: str) -> str:
    """`file_name` under `base_url`; just the name (relative) when there is no base URL."""
    return f"{base_url.rstrip('/')}/{file_name}" if base_url else file_name


def page_url(base_url: str, digest_id: int, digest: Mapping[str, Any]) -> str:
    """The digest's page on the web; "" without a base URL (then the mail has no link)."""
    return site_url(base_url, page_name(digest_id, digest) + ".html") if base_url else ""
