"""`make corpus-check`: import every mail under a folder and account for each.

Prints, per file and in total: messages read, distinct Message-IDs, stored,
parsed, flagged, and missing (distinct ids read but not in the store: always 0).
Usage: python -m bot.corpus_check FOLDER_OR_FILE...
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

from bot.errors import DigestbotError
from bot.ingest import ingest
from bot.settings import LimitSettings
from bot.source import open_source
from bot.store import message_id_of, open_store


def mail_files(root: Path) -> list[Path]:
    """Every file that may hold mail; Maildirs count as one source."""
    if root.is_file():
        return [root]
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir():
            found.append(path)
        elif path.is_file() and path.suffix not in (".md", ".xml", ".dtd", ".json"):
            found.append(path)
    return [p for p in found if not any(parent in found for parent in p.parents)]


def check(paths: list[Path]) -> int:
    totals: Counter[str] = Counter()
    all_ids: set[str] = set()
    flags: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="digestbot-corpus-") as tmp:
        store = open_store(f"sqlite:///{tmp}/corpus.sqlite3")
        for root in paths:
            for path in mail_files(root):
                try:
                    mails = list(open_source(path))
                except DigestbotError as exc:
                    print(f"{path}: {exc}")
                    continue
                ids = {message_id_of(m.raw) for m in mails}
                all_ids |= ids
                report = ingest(store, mails, LimitSettings())
                stored = {m for m in ids if store.mails_by_ids([m])}
                totals.update(read=report.read, new=report.new,
                              parsed=report.parsed, flagged=report.flagged, missing=len(ids - stored))
        for _, _, flag_text in store.flagged(limit=10**9):
            flags.update(flag_text.split())
        counts = store.counts()
        store.engine.dispose()
    print(f"read {totals['read']} messages ({len(all_ids)} distinct Message-IDs) from {len(paths)} path(s)")
    print(f"imported {counts['messages']} / parsed {counts['parsed']} / flagged {counts['flagged']} / "
          f"missing {totals['missing']}")
    if flags:
        print("flags: " + ", ".join(f"{name} {n}" for name, n in flags.most_common()))
    return 1 if totals["missing"] else 0


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]]
    if not paths or not all(p.exists() for p in paths):
        print("usage: python -m bot.corpus_check FOLDER_OR_FILE...", file=sys.stderr)
        sys.exit(2)
    sys.exit(check(paths))


if __name__ == "__main__":
    main()
