"""Targets 2 and 3: drafting from the store, as a whole `digestbot draft` process.

2. The busiest month of a list, drafted by a fresh process (start-up, store,
   clean, thread, group, summarize, render), against sumy's LexRank alone
   summarizing the same items one by one in this process.
3. The same week drafted from a store holding 100,000 messages and from one
   holding only that week: the cost must follow the period, not the archive.
"""

from __future__ import annotations

import time
import warnings
from datetime import datetime, timedelta

from bot.tools.bench import data
from bot.tools.bench.data import Dataset, Plan
from bot.tools.bench.measure import Run, best_run, run_command
from bot.tools.bench.report import Goal, Result, rated
from bot.tools.bench.startup import cost_summary, import_times
from bot.tools.bench.work import Workload, configured, period_workload, sumy_document

DRAFT_GOAL = Goal(">=", 20)
# Where a draft's start-up goes. sumy's summarizers (and with them nltk) should not be there: a
# default draft scores with bot.pipeline.summarize.lexrank directly.
COSTLY_IMPORTS = ("sqlalchemy", "jinja2", "numpy", "nupunkt", "Stemmer", "sumy.summarizers", "nltk", "scipy")
SCALE_GOAL = Goal("<=", 1.2)


def draft_command(config: str, start: datetime, end: datetime, output: str) -> list[str]:
    return [*data.digestbot(), "-q", "-c", config, "draft", "--since", f"{start:%Y-%m-%d}",
            "--until", f"{end:%Y-%m-%d}", "-o", output]


def busy_period(plan: Plan, dataset: Dataset, key: str = "draft", label: str = "2. draft busiest month",
                goal: Goal | None = DRAFT_GOAL) -> Result:
    """Target 2 on `dataset`'s busiest month (`goal` None: reported, not rated)."""
    from bot.settings import load_settings
    from bot.store.database import open_store

    store_path = data.built_store(plan, dataset)
    config = str(data.config(plan, key, store_path))
    start, end = dataset.stats.busiest_month()
    settings = load_settings(config)
    store = open_store(settings.store_url)
    try:
        work = period_workload(store, settings, start, end)
    finally:
        store.close()
    anchor, anchor_cpu = sumy_alone(work)
    command = draft_command(config, start, end, str(plan.work / f"{key}.txt"))
    run = best_run(command, plan.sizes.cheap_repeat)  # about a second a run: the best of five
    imports = cost_summary(import_times(command[len(data.digestbot()):]), COSTLY_IMPORTS)
    note = (f"{dataset.name}, {start:%Y-%m}: {work.messages} messages, {work.threads} threads, "
            f"{len(work.items)} items summarized, {work.sentences} sentences (largest item {work.largest}); "
            f"CPU time: sumy {anchor_cpu:.2f} s, the draft {run.cpu_seconds:.2f} s "
            f"({anchor_cpu / max(run.cpu_seconds, 1e-9):.1f}×); draft peak RSS {run.max_rss_mb:.0f} MB; "
            f"its imports (-X importtime, cumulative): {imports}")
    return rated(key, label, ("sumy LexRank alone", anchor), ("digestbot draft", run.seconds), goal, note=note)


def sumy_alone(work: Workload) -> tuple[float, float]:
    """Seconds (wall, CPU) sumy's LexRankSummarizer takes over every item, one by one.

    Building the documents is not timed.
    """
    from sumy.summarizers.lex_rank import LexRankSummarizer

    summarizer = configured(LexRankSummarizer)
    wall = cpu = 0.0
    with warnings.catch_warnings():  # sumy's power method divides by zero on a graph without edges
        warnings.simplefilter("ignore", RuntimeWarning)
        for sentences in work.items:
            document = sumy_document(sentences)
            start, start_cpu = time.perf_counter(), time.process_time()
            summarizer(document, 5)
            wall += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
    return wall, cpu


def archive_scaling(plan: Plan) -> Result:
    """Target 3: one week from a big archive's store vs from a store of that week alone."""
    archive = data.generated(plan, "archive", messages=plan.sizes.archive_messages, seed=plan.seed + 2)
    start, end = _quiet_busy_week(archive)
    week_mbox = plan.work / "week.mbox"
    count = data.select(archive.mbox, week_mbox, start, end)
    week = Dataset("week", week_mbox, archive.stats)
    big_config = str(data.config(plan, "archive", data.built_store(plan, archive)))
    small_config = str(data.config(plan, "week", data.built_store(plan, week)))
    output = str(plan.work / "week.txt")
    big: list[Run] = []
    small: list[Run] = []
    for _ in range(plan.sizes.repeat):  # interleaved, so drift hits both alike
        small.append(run_command(draft_command(small_config, start, end, output)))
        big.append(run_command(draft_command(big_config, start, end, output)))
    fast_small = min(r.seconds for r in small)
    fast_big = min(r.seconds for r in big)
    note = (f"week of {start:%Y-%m-%d}: {count} messages, drafted from a store of {archive.stats.messages:,} "
            f"messages ({archive.stats.bytes / data.MB:.0f} MB of mail) and from one of that week alone")
    return rated("scaling", "3. same week, archive vs week store", ("week-only store", fast_small),
                 (f"{archive.stats.messages:,}-message store", fast_big), SCALE_GOAL, note=note, invert=True)


def _quiet_busy_week(archive: Dataset) -> tuple[datetime, datetime]:
    """A busy week well inside the archive (its threads have context before it)."""
    weeks = sorted(archive.stats.weeks)
    middle = weeks[len(weeks) // 4 : max(len(weeks) // 4 + 1, 3 * len(weeks) // 4)]
    monday = max(middle, key=lambda d: (archive.stats.weeks[d], d))
    start = datetime(monday.year, monday.month, monday.day, tzinfo=archive.stats.busiest_week()[0].tzinfo)
    return start, start + timedelta(days=7)
