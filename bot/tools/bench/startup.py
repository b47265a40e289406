"""Target 6: `digestbot --help` and `digestbot status` start without the heavy libraries.

Which modules a command imports comes from `python -X importtime`; its
start-up time is compared with what importing the heavy libraries alone
costs (what every command would pay if they were imported eagerly).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace

from bot.tools.bench import data
from bot.tools.bench.data import Plan
from bot.tools.bench.measure import best_run, run_command
from bot.tools.bench.report import Result, rated

HEAVY = frozenset({"sumy", "numpy", "scipy", "mailparser", "nltk"})
HEAVY_IMPORT = "import sumy.summarizers.lex_rank, numpy, mailparser"


def import_times(args: Sequence[str]) -> dict[str, float]:
    """Module -> seconds its import took (cumulative, as -X importtime reports) in `digestbot args...`.

    A module imported in several places keeps its first, outermost figure.
    """
    argv = [sys.executable, "-X", "importtime", "-c", "from bot.cli.main import main; main()", *args]
    times: dict[str, float] = {}
    for line in run_command(argv).stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[1].strip().isdigit():
            times.setdefault(fields[2].strip(), int(fields[1]) / 1e6)
    return times


def imported_modules(args: Sequence[str]) -> set[str]:
    """Every module `digestbot args...` imports, from -X importtime."""
    return set(import_times(args))


def cost_summary(times: dict[str, float], modules: Sequence[str]) -> str:
    """ "sqlalchemy 210 ms, nltk 1400 ms" for those of `modules` that were imported."""
    return ", ".join(f"{name} {times[name] * 1000:.0f} ms" for name in modules if name in times)


def heavy_imports(args: Sequence[str]) -> set[str]:
    """The heavy top-level packages among what `digestbot args...` imports."""
    return {name.split(".")[0] for name in imported_modules(args)} & HEAVY


def run(plan: Plan) -> list[Result]:
    config = str(data.config(plan, "status", plan.work / "status.sqlite3"))
    anchor = best_run([sys.executable, "-c", HEAVY_IMPORT], plan.sizes.cheap_repeat).seconds
    results = []
    for key, args in (("startup-help", ["--help"]), ("startup-status", ["-c", config, "status"])):
        heavy = heavy_imports(args)
        ours = best_run([*data.digestbot(), *args], plan.sizes.cheap_repeat).seconds
        result = rated(key, f"6. digestbot {args[-1]}", ("importing the heavy libraries", anchor),
                       (f"digestbot {args[-1]}", ours), None,
                       note=f"imports {', '.join(sorted(heavy))}" if heavy else "imports none of "
                       + ", ".join(sorted(HEAVY)))
        results.append(replace(result, target="none of them imported", passed=not heavy))
    return results
