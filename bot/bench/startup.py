"""Target 6: `digestbot --help` and `digestbot status` start without the heavy libraries.

Which modules a command imports comes from `python -X importtime`; its
start-up time is compared with what importing the heavy libraries alone
costs (what every command would pay if they were imported eagerly).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace

from bot.bench import data
from bot.bench.data import Plan
from bot.bench.measure import best_run, run_command
from bot.bench.report import Result, rated

HEAVY = frozenset({"sumy", "numpy", "scipy", "mailparser", "nltk"})
HEAVY_IMPORT = "import sumy.summarizers.lex_rank, numpy, scipy.sparse, mailparser"


def imported_modules(args: Sequence[str]) -> set[str]:
    """Every module `digestbot args...` imports, from -X importtime."""
    argv = [sys.executable, "-X", "importtime", "-c", "from bot.cli import main; main()", *args]
    run = run_command(argv)
    names = set()
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name)
    return names


def heavy_imports(args: Sequence[str]) -> set[str]:
    """The heavy top-level packages among what `digestbot args...` imports."""
    return {name.split(".")[0] for name in imported_modules(args)} & HEAVY


def run(plan: Plan) -> list[Result]:
    config = str(data.config(plan, "status", plan.work / "status.sqlite3"))
    anchor = best_run([sys.executable, "-c", HEAVY_IMPORT], plan.sizes.repeat).seconds
    results = []
    for key, args in (("startup-help", ["--help"]), ("startup-status", ["-c", config, "status"])):
        heavy = heavy_imports(args)
        ours = best_run([*data.digestbot(), *args], max(3, plan.sizes.repeat)).seconds
        result = rated(key, f"6. digestbot {args[-1]}", ("importing the heavy libraries", anchor),
                       (f"digestbot {args[-1]}", ours), None,
                       note=f"imports {', '.join(sorted(heavy))}" if heavy else "imports none of "
                       + ", ".join(sorted(HEAVY)))
        results.append(replace(result, target="none of them imported", passed=not heavy))
    return results
