"""Files shipped with digestbot: templates, the demo config and mailbox.

An installed wheel carries them under bot/_data; a checkout has them at the
top level of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(installed: str, checkout: str) -> Path:
    candidate = _PACKAGE / "_data" / installed
    return candidate if candidate.exists() else _PACKAGE.parent / checkout


def templates_dir() -> Path:
    return _find("templates", "templates")


def demo_config() -> Path:
    return _find("demo.toml", "config/demo.toml")


def demo_mailbox() -> Path:
    return _PACKAGE / "demo" / "week.mbox"
