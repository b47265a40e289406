"""Store URLs: which name a plain SQLite file, and how to show one without its password."""

from __future__ import annotations

import re
from pathlib import Path


def sqlite_path(url: str) -> Path | None:
    """The database file of a plain `sqlite:///` URL, else None."""
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    path = url.removeprefix("sqlite:///")
    return Path(path) if path and path != ":memory:" else None


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def libpq_url(url: str) -> str:
    """The libpq URL of a SQLAlchemy PostgreSQL URL, for psycopg itself ("postgresql+psycopg://" -> "postgresql://")."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)
