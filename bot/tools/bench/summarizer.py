"""Target 1: our LexRank against sumy's, on one long thread, same picks.

Both summarizers get fresh sumy documents built with the bot's tokenizer,
stemmer and stop words; the timed call includes their word tokenizing. The
equivalence check compares every sentence's rating (as sumy's
`_get_best_sentences` receives them) and the ten sentences each picks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.tools.bench.data import Plan
from bot.tools.bench.measure import best_time, timed
from bot.tools.bench.report import Goal, Result, rated
from bot.tools.bench.traffic import thread_mails
from bot.tools.bench.work import configured, mails_workload, sumy_document

GOAL = Goal(">=", 50)
PICKS = 10


def thread_sentences(wanted: int, seed: int) -> tuple[str, ...]:
    """The first `wanted` candidate sentences of a generated discussion thread."""
    from bot.mail.parse import parse_mail
    from bot.settings import LimitSettings

    size = max(4, wanted // 6)
    while True:
        raws = thread_mails(size, seed=seed)
        stamp = datetime.now(UTC)
        mails = [parse_mail(raw, f"<{i}@bench>", stamp, LimitSettings()) for i, raw in enumerate(raws)]
        sentences = mails_workload(mails)
        if len(sentences) >= wanted:
            return sentences[:wanted]
        size = size * 3 // 2 + 1


def largest_thread(mbox: Path) -> tuple[str, tuple[str, ...]]:
    """A label and the candidate sentences of the thread of `mbox` with the most sentences."""
    from bot.mail.parse import parse_mail
    from bot.mail.source import MboxSource
    from bot.pipeline.thread import build_threads
    from bot.settings import LimitSettings
    from bot.store.identity import message_id_of

    stamp = datetime.now(UTC)
    mails = [parse_mail(m.raw, message_id_of(m.raw), stamp, LimitSettings()) for m in MboxSource(mbox)]
    threads = [(mails_workload(t.mails), t) for t in build_threads(mails, frozenset())]
    sentences, thread = max(threads, key=lambda pair: len(pair[0]))
    return f"\"{thread.subject[:60]}\", {len(thread.mails)} messages, {len(sentences)} sentences", sentences


def run(plan: Plan, sentences: Sequence[str] | None = None, label: str = "", *, key: str = "summarizer",
        name: str = "1. LexRank, one thread", goal: Goal | None = GOAL) -> Result:
    from sumy.summarizers.lex_rank import LexRankSummarizer

    from bot.pipeline.summarize.sumy_lexrank import FastLexRankSummarizer

    if sentences is None:
        sentences = thread_sentences(plan.sizes.thread_sentences, plan.seed)
        label = f"generated thread, {len(sentences)} sentences"
    sumy, fast = configured(LexRankSummarizer), configured(FastLexRankSummarizer)
    sumy_seconds, sumy_out = timed(lambda: _summarize(sumy, sentences))
    fast_seconds = best_time(lambda: _summarize(fast, sentences), 3 * plan.sizes.cheap_repeat)
    fast_out = _summarize(fast, sentences)
    same = sumy_out == fast_out
    note = f"{label}; same {PICKS} picks and identical ratings: {'yes' if same else 'NO'}"
    result = rated(key, name, ("sumy", sumy_seconds), ("ours", fast_seconds), goal, note=note)
    return result if same else replace(result, passed=False)


def _summarize(summarizer: Any, sentences: Sequence[str]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The picked sentences and every rating, from one call on a fresh document."""
    ratings: dict[int, float] = {}

    def record(infos: list[Any]) -> list[Any]:
        for info in infos:
            ratings[info.order] = float(info.rating)
        return infos[:PICKS]  # sumy hands them over best first

    picked = summarizer(sumy_document(sentences), record)
    return tuple(str(s) for s in picked), tuple(ratings[i] for i in sorted(ratings))
