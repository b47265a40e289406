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


class RenderError(DigestbotError):
    """A digest could not be rendered."""


class ReviewError(DigestbotError):
    """A review action is not allowed in the draft's current state."""


class NoSuchDraft(ReviewError):
    """A draft id or revision that does not exist: a wrong command-line value."""

    exit_code = 2


class SendError(DigestbotError):
    """Mail could not be delivered."""


class ScheduleError(DigestbotError):
    """The scheduler could not start or another bot holds the lock."""


class PublishError(DigestbotError):
    """The public archive could not be written (bot/publish)."""


class ModelError(DigestbotError):
    """A summarizing model failed or answered nonsense: its item keeps the extractive summary."""


# SQLite's primary result codes that mean trouble with the database file, not a bug in a
# query: what to tell the user. (A bug stays an exception with its traceback.)
_SQLITE_HINTS = {
    13: "free some disk space and run again; everything stored before is kept",  # SQLITE_FULL
    10: "is the disk full or failing? Everything stored before is kept",  # SQLITE_IOERR
    5: "another process is using the store; try again",  # SQLITE_BUSY
    6: "another process is using the store; try again",  # SQLITE_LOCKED
    11: "the store file is damaged",  # SQLITE_CORRUPT
    26: "the store file is damaged or not a database",  # SQLITE_NOTADB
    14: "check the file and its folder's permissions",  # SQLITE_CANTOPEN
    3: "check the file and its folder's permissions",  # SQLITE_PERM
    8: "check the file and its folder's permissions",  # SQLITE_READONLY
}


def sqlite_trouble(exc: BaseException, where: str) -> StoreError | None:
    """One clear line for a full disk, an I/O error, a busy, damaged or unreadable database; else None."""
    code = getattr(exc, "sqlite_errorcode", None)
    hint = _SQLITE_HINTS.get(code & 0xFF) if isinstance(code, int) else None
    if hint is None:
        return None
    return StoreError(f"store {where}: {str(exc).splitlines()[0] if str(exc) else 'error'}; {hint}")


def sqlite_file_error(exc: BaseException, path: object) -> StoreError:
    """A failure of a SQLite file store read or written without SQLAlchemy, named by its URL as the Store names it."""
    where = f"sqlite:///{path}"
    return sqlite_trouble(exc, where) or StoreError(f"store {where}: {exc}")
