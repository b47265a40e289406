"""`make hygiene`: what a reader trips over in our summaries of real lists, counted by ../shared/tools/hygiene.py.

Each mbox of the corpus folder is imported into a scratch store with the demo's
config, and every busy week is drafted as JSON by the command line: weeks (Monday
to Sunday, UTC) of at least 20 messages, or of at least 5 on a list that never
has 20 in a week. `--checkout DIR` measures another checkout (an older commit)
the same way. hygiene.py then counts, per
list, the summary sentences and each flaw (fragments, attribution lines,
dangling pronouns, [n] markers, run-ons, and attendees listed twice).

Usage: python -m bot.tools.hygiene_check [CORPUS_DIR] [--hygiene PATH] [--keep DIR] [--checkout DIR]
"""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, date, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

BUSY, QUIET = 20, 5
FLAWS = ("fragment", "quote_header", "dangling", "ref_marker", "overlong")


def busy_weeks(mbox: Path) -> list[date]:
    """The Mondays (UTC, as the demo's config reads weeks) of the weeks of `mbox` with enough messages."""
    weeks: Counter[date] = Counter()
    for message in mailbox.mbox(str(mbox), create=False):
        try:
            when = parsedate_to_datetime(str(message["Date"])).astimezone(UTC).date()
        except (TypeError, ValueError, IndexError):
            continue  # a message without a readable date belongs to no week here
        weeks[when - timedelta(days=when.weekday())] += 1
    least = BUSY if any(n >= BUSY for n in weeks.values()) else QUIET
    return sorted(week for week, count in weeks.items() if count >= least)


def draft_weeks(checkout: Path, mbox: Path, folder: Path) -> list[Path]:
    """The JSON digest of each busy week of `mbox`, drafted by the CLI of `checkout` into `folder`.

    Through the command line, so that another checkout (an older digestbot) can be measured the same way.
    """
    demo = (checkout / "config" / "demo.toml").read_text(encoding="utf-8")
    config = folder / "digestbot.toml"
    config.write_text(demo.replace('path = ":memory:"', f'path = "{folder / "store.sqlite3"}"'), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(checkout)}

    def digestbot(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "bot.cli.main", "--config", str(config), *args], check=True,
                       env=env, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    digestbot("import", str(mbox.resolve()))
    written = []
    for week in busy_weeks(mbox):
        path = folder / f"{week}.json"
        digestbot("draft", "--week-of", str(week), "--format", "json", "--output", str(path))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.tools.hygiene_check", description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", default="../shared/corpora/lists", type=Path)
    parser.add_argument("--hygiene", type=Path, help="the counter (default: tools/hygiene.py beside the corpora)")
    parser.add_argument("--keep", type=Path, help="write the digests here instead of a scratch folder")
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parents[2],
                        help="the digestbot checkout whose CLI drafts (default: this one); e.g. an older commit's")
    args = parser.parse_args(argv)
    mboxes = sorted(args.corpus.glob("*.mbox"))
    if not mboxes:
        parser.exit(2, f"{args.corpus}: no .mbox files\n")
    hygiene = args.hygiene or args.corpus.resolve().parent.parent / "tools" / "hygiene.py"
    if not hygiene.exists():
        parser.exit(2, f"{hygiene}: hygiene.py not found (give --hygiene PATH)\n")
    print(f"{'list':<44}{'weeks':>6}{'sentences':>10}{'flawed':>8}  flaws")
    totals: Counter[str] = Counter()
    for mbox in mboxes:
        with tempfile.TemporaryDirectory(prefix="hygiene-") as scratch:
            folder = (args.keep / mbox.stem) if args.keep else Path(scratch)
            folder.mkdir(parents=True, exist_ok=True)
            digests = draft_weeks(args.checkout.resolve(), mbox, folder)
            run = subprocess.run([sys.executable, str(hygiene), *map(str, digests)], check=True,
                                 capture_output=True, text=True)
        found = json.loads(run.stdout)
        counts = {key: found.get(key, {}).get("n", 0) for key in (*FLAWS, "duplicate_attendee")}
        flawed = sum(counts[key] for key in FLAWS)  # a sentence with two flaws counts twice: an upper bound
        totals.update(weeks=len(digests), sentences=found["sentences"], flawed=flawed,
                      duplicate_attendee=counts["duplicate_attendee"])
        detail = ", ".join(f"{key} {n}" for key, n in counts.items() if n) or "none"
        print(f"{mbox.stem:<44}{len(digests):>6}{found['sentences']:>10}{flawed:>8}  {detail}", flush=True)
    share = 100 * totals["flawed"] / max(1, totals["sentences"])
    print(f"{'all':<44}{totals['weeks']:>6}{totals['sentences']:>10}{totals['flawed']:>8}  "
          f"{share:.1f}% flawed; attendees listed twice: {totals['duplicate_attendee']}")


if __name__ == "__main__":
    main()
