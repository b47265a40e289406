"""One root error, one subclass per pipeline stage.

Stages raise these; only the CLI turns them into a message and an exit code.
"""

from __future__ import annotations


class DigestbotError(Exception):
    """Root of every error digestbot raises on purpose."""

    exit_code = 1


class ConfigError(DigestbotError):
    """The configuration file or a command-line value is wrong."""

    exit_code = 2


class SourceError(DigestbotError):
    """A mailbox or IMAP server could not be read."""


class StoreError(DigestbotError):
    """The database could not be opened, migrated or written."""


class ParseError(DigestbotError):
    """A message could not be parsed (it is still stored, and flagged)."""


class RenderError(DigestbotError):
    """A digest could not be rendered."""


class ReviewError(DigestbotError):
    """A review action is not allowed in the draft's current state."""


class SendError(DigestbotError):
    """Mail could not be delivered."""


class ScheduleError(DigestbotError):
    """The scheduler could not start or another bot holds the lock."""
