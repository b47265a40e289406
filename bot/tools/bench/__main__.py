"""`python -m bot.tools.bench [--quick | --tiny] [--only NAME] [MBOX ...]`: run the benchmarks.

Prints the table and rewrites the results section of BENCHMARKS.md (the text
above "## Last results" is kept). Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from bot.tools.bench import data
from bot.tools.bench.data import Plan
from bot.tools.bench.report import Result, markdown, table
from bot.tools.bench.runner import BENCHMARKS, log, run_all

ROOT = Path(__file__).resolve().parents[3]
REAL_LISTS = ROOT.parent / "shared" / "corpora" / "lists"
RESULTS_HEADING = "## Last results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot.tools.bench", description="Run digestbot's benchmarks: "
                                     "each figure against its anchor, measured in the same run.")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="skip the biggest sizes (20,000-message archive, "
                      "10 MB vs 100 MB for memory)")
    size.add_argument("--tiny", action="store_true", help="tiny inputs: checks that every benchmark runs")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run only this benchmark (repeatable)")
    parser.add_argument("--seed", type=int, default=3, help="generator seed (default 3)")
    parser.add_argument("--cache", type=Path, default=data.CACHE, help=f"generated inputs (default {data.CACHE})")
    parser.add_argument("--output", type=Path, help="results file (default BENCHMARKS.md; not written by --tiny)")
    parser.add_argument("--no-real", action="store_true", help=f"do not use the real lists in {REAL_LISTS}")
    parser.add_argument("mboxes", nargs="*", type=Path, help="real mbox files to benchmark as well")
    return parser.parse_args(argv)


def default_real(args: argparse.Namespace) -> tuple[Path, ...]:
    if args.mboxes:
        return tuple(args.mboxes)
    if args.no_real or args.tiny or not REAL_LISTS.is_dir():
        return ()
    return tuple(sorted(REAL_LISTS.glob("*.mbox")))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    for path in args.mboxes:
        if not path.is_file():
            print(f"python -m bot.tools.bench: {path}: no such mbox file", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="digestbot-bench-"))
    try:
        plan = Plan(mode, work, args.cache, args.seed, default_real(args), frozenset(args.only or ()))
        results = run_all(plan)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(results))
    output = args.output or (None if args.tiny else ROOT / "BENCHMARKS.md")
    if output is not None:
        write_results(output, results, mode)
        log(f"results written to {output}")
    return 1 if any(r.passed is False for r in results) else 0


def write_results(path: Path, results: list[Result], mode: str) -> None:
    """Replace the results section of `path`, keeping what is written above it."""
    preamble = "# Benchmarks\n\nRun `make bench` (or `python -m bot.tools.bench --help`).\n"
    if path.exists():
        preamble = path.read_text(encoding="utf-8").split(RESULTS_HEADING)[0]
    path.write_text(markdown(results, mode=mode, preamble=preamble), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
