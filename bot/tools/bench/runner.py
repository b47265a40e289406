"""Run every benchmark of a plan and collect one row per figure.

A benchmark that raises becomes a failed row naming the error, so one broken
benchmark never hides the others' figures.
"""

from __future__ import annotations

import compileall
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bot.tools.bench import data, draft, importing, manylists, startup, summarizer
from bot.tools.bench import imap as imap_bench
from bot.tools.bench.data import Dataset, Plan
from bot.tools.bench.report import Result

BENCHMARKS = ("summarizer", "draft", "scaling", "import", "memory", "startup", "imap", "manylists")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


Step = tuple[str, str, Callable[[], list[Result]]]  # benchmark, what it does, how


def run_all(plan: Plan) -> list[Result]:
    unknown = plan.only - set(BENCHMARKS)
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")
    _compile_package()
    results: list[Result] = []
    for key, title, step in _steps(plan):
        if plan.wants(key):
            results += _guarded(key, title, step)
    return results


def _compile_package() -> None:
    """Write bot/'s bytecode, as installing the wheel does (pip compiles every package it installs).

    An editable install never does, and with PYTHONDONTWRITEBYTECODE set (as on these machines) every
    timed command would compile our modules again at start-up (`digestbot import` of the real lists:
    345-467 ms against 296-310 ms compiled, in one session's runs), while the anchors' libraries in
    site-packages were compiled by pip.
    """
    import bot

    compileall.compile_dir(Path(bot.__file__).parent, quiet=1)


def _steps(plan: Plan) -> list[Step]:
    """Every benchmark in table order; a real-list row follows its generated one."""
    sizes = plan.sizes
    cached: list[Dataset] = []

    def the_list() -> Dataset:
        if not cached:
            log(f"generating the list: {sizes.list_messages:,} messages (cached in {plan.cache})")
            cached.append(data.generated(plan, "list", messages=sizes.list_messages))
        return cached[0]

    generated: list[Step] = [
        ("summarizer", "LexRank on one thread", lambda: [summarizer.run(plan)]),
        ("draft", "drafting the busiest month", lambda: [draft.busy_period(plan, the_list())]),
        ("scaling", f"one week from {sizes.archive_messages:,} messages", lambda: [draft.archive_scaling(plan)]),
        ("import", "importing the list",
         lambda: importing.speed(plan, the_list(), "import", "4. import, generated list")),
        ("memory", "import memory", lambda: importing.memory(plan)),
        ("startup", "start-up imports", lambda: startup.run(plan)),
        ("imap", "IMAP against mbsync", lambda: imap_bench.run(plan)),
        ("manylists", "many lists: a poll of every folder against mbsync, and the week's drafting",
         lambda: manylists.run(plan)),
    ]
    real = data.real(plan) if plan.real else None
    extra = _real_steps(plan, real) if real is not None else {}
    return [step for first in generated for step in (first, *extra.get(first[0], ()))]


def _real_steps(plan: Plan, real: Dataset) -> dict[str, tuple[Step]]:
    return {
        "summarizer": (("summarizer", "LexRank on the largest real thread", lambda: [_real_thread(plan, real)]),),
        # Info only: the real lists here are small (their busiest month is under 700 sentences, which sumy
        # alone summarizes in about 0.3 s), too little work to rate against a whole process's start-up.
        "draft": (("draft", "drafting the real lists' busiest month",
                   lambda: [draft.busy_period(plan, real, "draft-real", "2. draft busiest month, real", None)]),),
        "import": (("import", "importing the real lists",
                    lambda: importing.speed(plan, real, "import-real", "4. import, real lists")),),
    }


def _guarded(key: str, title: str, step: Callable[[], list[Result]]) -> list[Result]:
    log(f"{key}: {title}")
    start = time.perf_counter()
    try:
        rows = step()
    except Exception as exc:  # noqa: BLE001 - report it as a failed row and carry on
        traceback.print_exc(file=sys.stderr)
        return [Result(key, f"{key} (error)", "—", "—", None, "—", False, f"error: {type(exc).__name__}: {exc}")]
    log(f"{key}: done in {time.perf_counter() - start:.1f} s")
    return rows


def _real_thread(plan: Plan, real: Dataset) -> Result:
    """Target 1's comparison on the largest real thread (information only: it is shorter than 900)."""
    label, sentences = summarizer.largest_thread(real.mbox)
    return summarizer.run(plan, sentences, label, key="summarizer-real", name="1. LexRank, largest real thread",
                          goal=None)
