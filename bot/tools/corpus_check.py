"""`make corpus-check`: import every mail under some folders and account for each message.

Every file that may hold mail (mbox, Maildir, one message per file) goes
through the same `ingest` as `digestbot import`, into a throwaway store. Then
each distinct message read is looked up under the key the store gives it
(bot/store/identity.py: its Message-ID, a hash for a missing or malformed one,
a derived key for another message reusing a Message-ID): it must be stored,
with the bytes of one of its copies, and be parsed or flagged. Printed per
folder and in total: messages read, distinct messages, copies read again,
collisions kept, imported / parsed / flagged / missing. Missing is always 0;
if it is not, or ingesting a file crashed, the exit status is 1.

Usage: python -m bot.tools.corpus_check FOLDER_OR_FILE...
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import DigestbotError
from bot.mail.ingest import ingest
from bot.mail.source import open_source
from bot.settings import LimitSettings
from bot.store.database import Store, open_store
from bot.store.identity import identify, place

# Not mail, though they sit beside it in corpora.
SKIPPED_SUFFIXES = (".md", ".xml", ".dtd", ".json", ".py", ".sh")
SKIPPED_NAMES = ("readme", "license", "licence", "copying", "sources")


@dataclass
class Tally:
    """What one folder (or the whole run) came to."""

    files: int = 0
    read: int = 0
    unreadable: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)
    shas: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # key -> sha256 of each copy
    derived: set[str] = field(default_factory=set)  # keys derived from a Message-ID another message has

    @property
    def distinct(self) -> int:
        return len(self.shas)

    @property
    def other_bytes(self) -> int:
        """Copies of a message read before, with different bytes (the store keeps the first)."""
        return sum(len(found) - 1 for found in self.shas.values())

    def add(self, other: Tally) -> None:
        self.files += other.files
        self.read += other.read
        self.crashed += other.crashed
        self.unreadable += other.unreadable
        for key, shas in other.shas.items():
            self.shas[key] |= shas
        self.derived |= other.derived


class Keys:
    """The key each message gets, over every folder of one run in reading order, decided as the store
    decides it: by bot/store/identity.py's `place`, among the messages placed before."""

    def __init__(self) -> None:
        self.placed: dict[str, tuple[int, str | None]] = {}  # key -> (a stand-in primary key, fingerprint)

    def key(self, raw: bytes) -> tuple[str, bool]:
        """The message's key, and whether it is derived."""
        identity = identify(raw)
        [where] = place([identity], {key: self.placed[key] for key in identity.keys if key in self.placed})
        self.placed.setdefault(where.key, (len(self.placed), where.fingerprint))
        return where.key, where.header_id is not None


@dataclass(frozen=True, slots=True)
class Outcome:
    imported: int
    parsed: int
    flagged: int
    missing: list[str]
    flags: Counter[str]


def mail_files(root: Path) -> list[Path]:
    """Every file that may hold mail; a Maildir counts as one source."""
    if root.is_file():
        return [root]
    found = []
    for path in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        maildir = path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()
        message_file = path.is_file() and path.suffix.lower() not in SKIPPED_SUFFIXES \
            and not path.name.lower().startswith(SKIPPED_NAMES)
        if maildir or message_file:
            found.append(path)
    maildirs = [p for p in found if p.is_dir()]
    return [p for p in found if not any(m in p.parents for m in maildirs)]


def check_folder(store: Store, root: Path, limits: LimitSettings, keys: Keys) -> Tally:
    """Ingest every mail file under `root` into `store`; what was read, for `account`."""
    tally = Tally()
    for path in mail_files(root):
        tally.files += 1
        try:
            mails = list(open_source(path))
        except (DigestbotError, OSError) as exc:
            tally.unreadable.append(f"{path}: {exc}")
            continue
        for mail in mails:
            key, derived = keys.key(mail.raw)
            tally.shas[key].add(hashlib.sha256(mail.raw).hexdigest())
            if derived:
                tally.derived.add(key)
        tally.read += len(mails)
        try:
            ingest(store, mails, limits, expected=len(mails))
        except Exception as exc:  # noqa: BLE001 - a crash is what this check exists to report
            tally.crashed.append(f"{path}: {exc.__class__.__name__}: {str(exc)[:200]}")
    return tally


def account(store: Store, tally: Tally, copies: dict[str, set[str]]) -> Outcome:
    """Look up every message read: stored, with the bytes of a copy read (`copies`), parsed or flagged."""
    ids = list(tally.shas)
    rows = store.message_states(ids)
    missing, flags = [], Counter[str]()
    for mid in ids:
        row = rows.get(mid)
        if row is None or row[0] not in ("parsed", "flagged") or row[1] not in copies[mid]:
            missing.append(mid)
            continue
        flags.update(row[2].split())
    states = Counter(rows[mid][0] for mid in ids if mid in rows)
    return Outcome(len(rows), states["parsed"], states["flagged"], missing, flags)


def report(label: str, tally: Tally, outcome: Outcome) -> list[str]:
    duplicates = tally.read - tally.distinct
    notes = []
    if duplicates:
        notes.append(f"{duplicates} read again, {tally.other_bytes} of them with other bytes: the first copy is kept")
    if tally.derived:
        notes.append(f"{len(tally.derived)} kept beside another with the same Message-ID and other content, "
                     "under a derived key")
    lines = [
        f"{label}: {tally.files} file(s), read {tally.read} messages, {tally.distinct} distinct messages"
        + (f" ({'; '.join(notes)})" if notes else ""),
        f"{label}: imported {outcome.imported} / parsed {outcome.parsed} / flagged {outcome.flagged} / "
        f"missing {len(outcome.missing)}",
    ]
    if outcome.flags:
        lines.append(f"{label}: flags: " + ", ".join(f"{name} {n}" for name, n in outcome.flags.most_common()))
    lines += [f"{label}: MISSING {mid}" for mid in outcome.missing[:20]]
    lines += [f"{label}: CRASHED {line}" for line in tally.crashed]
    lines += [f"{label}: unreadable {line}" for line in tally.unreadable]
    return lines


def check(paths: list[Path], limits: LimitSettings | None = None) -> int:
    """Check each path into one store (a Message-ID in two folders is one message); print; the exit status."""
    limits = limits or LimitSettings()
    total, keys, failed = Tally(), Keys(), False
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="digestbot-corpus-") as tmp:
        store = open_store(f"sqlite:///{tmp}/corpus.sqlite3")
        try:
            for root in paths:
                tally = check_folder(store, root, limits, keys)
                total.add(tally)
                outcome = account(store, tally, total.shas)
                print("\n".join(report(str(root), tally, outcome)))
                failed = failed or bool(outcome.missing or tally.crashed)
            outcome = account(store, total, total.shas)
            collisions = store.collisions()
            integrity = store.integrity()
        finally:
            store.close()
    print("\n".join(report("total", total, outcome)))
    if collisions != len(total.derived):  # the store's own count of derived keys, against what was read
        print(f"total: MISMATCH the store holds {collisions} message(s) under a derived key, "
              f"{len(total.derived)} expected")
        failed = True
    print(f"total: store integrity {integrity}; {time.monotonic() - started:.1f}s")
    return 1 if failed or outcome.missing or total.crashed or integrity != "ok" else 0


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]]
    missing = [p for p in paths if not p.exists()]
    if not paths or missing:
        problem = f"no such file or folder: {', '.join(map(str, missing))}" if missing else "no folder given"
        print(f"corpus-check: {problem}\nusage: python -m bot.tools.corpus_check FOLDER_OR_FILE...", file=sys.stderr)
        sys.exit(2)
    sys.exit(check(paths))


if __name__ == "__main__":
    main()
