"""Abstractive summaries from a model the operator chooses, every point checked against its sources.

With `[digest] strategy = "llm"`, each item's cleaned messages go to the `[llm]`
endpoint (client.py), labelled with their authors and Message-IDs; long items
are chunked and folded (fold.py). Every point that comes back cites messages
and passes deterministic checks (verify.py) or is dropped. An item keeps its
extractive summary when too few points survive or the model fails in any way,
and the draft says so: a draft never fails because the model did.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from bot.errors import ConfigError, ModelError
from bot.model import Item, ModelReport, SummarySentence
from bot.pipeline.clean import CleanBody
from bot.pipeline.items import as_sentence
from bot.settings import LlmSettings

from .client import ModelClient, Unreachable
from .fold import FOLD_SYSTEM, SYSTEM, chunk_sources, fold_groups, fold_request, summary_request
from .verify import Checker, Point, Source

__all__ = ["Source", "Topic", "Written", "summarize_items", "write_summaries"]

log = logging.getLogger(__name__)
MAX_FOLD_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class Topic:
    """One item as the model sees it."""

    title: str
    sources: tuple[Source, ...]  # its new messages, in discussion order
    people: tuple[str, ...]  # everyone who wrote in its threads, context included
    words: int  # the item's word budget


@dataclass(frozen=True, slots=True)
class Written:
    summary: tuple[SummarySentence, ...]  # empty: the item keeps its extractive summary
    fallback: str = ""  # why it does
    dropped: Counter[str] = field(default_factory=Counter)  # why the checks dropped points


def summarize_items(items: Sequence[Item], cleaned: Mapping[str, CleanBody], settings: LlmSettings,
                    words: Sequence[int]) -> tuple[list[Item], ModelReport]:
    """`items` (already summarized extractively) with the model's checked summaries where they succeed."""
    chosen = [i for i, item in enumerate(items) if item.summary]  # a patch series' one line has none
    topics = [_topic(items[i], cleaned, words[i]) for i in chosen]
    written = write_summaries(topics, settings)
    out = list(items)
    dropped: Counter[str] = Counter()
    fallbacks = []
    for index, result in zip(chosen, written, strict=True):
        dropped += result.dropped
        if result.summary:
            summary = tuple(replace(s, text=as_sentence(s.text)) for s in result.summary)  # as extracts end
            out[index] = replace(items[index], summary=summary, summary_by=f"llm:{settings.model}")
        else:
            fallbacks.append((items[index].title, result.fallback))
    report = ModelReport(settings.model, len(chosen) - len(fallbacks),
                         sum(len(out[i].summary) for i in chosen if out[i].summary_by.startswith("llm:")),
                         tuple(dropped.most_common()), tuple(fallbacks))
    _log_report(report, len(chosen), settings.fallback)
    return out, report


def _topic(item: Item, cleaned: Mapping[str, CleanBody], words: int) -> Topic:
    mails = sorted((m for t in item.threads for m in t.new_mails), key=lambda m: (m.date, m.message_id))
    sources = tuple(Source(m.message_id, m.author, cleaned[m.message_id].text) for m in mails
                    if cleaned[m.message_id].text.strip())
    people = tuple(dict.fromkeys(m.author for t in item.threads for m in t.mails))
    return Topic(item.title, sources, people, words)


def write_summaries(topics: Sequence[Topic], settings: LlmSettings) -> list[Written]:
    """Each topic's checked summary, or why there is none; never raises because of the model."""
    if not topics:
        return []
    try:
        key = settings.api_key.reveal("llm.api_key") if settings.api_key.configured else None
    except ConfigError as exc:
        return [Written((), str(exc).replace("password", "key"))] * len(topics)
    client = ModelClient(settings, key)
    down = threading.Event()

    def one(topic: Topic) -> Written:
        if down.is_set():
            return Written((), "server unreachable")
        dropped: Counter[str] = Counter()
        try:
            return _write(client, topic, settings, dropped)
        except Unreachable as exc:
            down.set()  # every other item would wait for the same timeouts
            return Written((), str(exc), dropped)
        except ModelError as exc:
            return Written((), str(exc), dropped)

    try:
        with ThreadPoolExecutor(max_workers=settings.max_concurrency, thread_name_prefix="llm") as pool:
            results = list(pool.map(one, topics))
    finally:
        client.close()
    log.debug("%s", client.usage.line(settings.model))
    return results


def _write(client: ModelClient, topic: Topic, settings: LlmSettings, dropped: Counter[str]) -> Written:
    chunks = chunk_sources(topic.sources, settings.max_input_tokens)
    checker = Checker(topic.sources, topic.people, context=topic.title)
    kept: list[Point] = []
    for number, chunk in enumerate(chunks, start=1):
        request = summary_request(topic.title, chunk, words=topic.words, part=(number, len(chunks)))
        kept += _checked(client.points(SYSTEM, request), checker, dropped)
    if len(chunks) > 1 and len(kept) > 1:
        kept = _fold(client, topic, kept, settings, dropped)
    if len(kept) < settings.min_points:
        return Written((), f"too few points passed the checks ({len(kept)})", dropped)
    authors = {s.message_id: s.author for s in topic.sources}
    return Written(tuple(_sentence(point, authors) for point in kept), "", dropped)


def _checked(points: Sequence[Point], checker: Checker, dropped: Counter[str]) -> list[Point]:
    kept = []
    for point in points:
        verdict = checker.check(point)
        if verdict.kept:
            kept.append(verdict.point)
        else:
            dropped[verdict.reason] += 1
    return kept


def _fold(client: ModelClient, topic: Topic, partial: list[Point], settings: LlmSettings,
          dropped: Counter[str]) -> list[Point]:
    """The partial points of a long item merged by the model, checked again; the partial ones if that fails."""
    authors = {s.message_id: s.author for s in topic.sources}
    points = partial
    for _ in range(MAX_FOLD_ROUNDS):
        groups = fold_groups(points, authors, settings.max_input_tokens)
        checker = Checker(topic.sources, topic.people, context=topic.title)
        folded: list[Point] = []
        try:
            for group in groups:
                folded += _checked(client.points(FOLD_SYSTEM, fold_request(topic.title, group, authors,
                                                                            words=topic.words)), checker, dropped)
        except ModelError as exc:
            log.debug("llm: folding failed (%s); keeping the checked partial points", exc)
            return partial
        if len(folded) < settings.min_points:
            return partial
        if len(groups) == 1 or len(folded) >= len(points):
            return folded
        points = folded
    return points


def _sentence(point: Point, authors: Mapping[str, str]) -> SummarySentence:
    """A point shown like an extract: by the cited messages' authors, linked to the first."""
    names = list(dict.fromkeys(authors.get(m, "") for m in point.message_ids if authors.get(m)))
    author = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""
    return SummarySentence(point.text, point.message_ids[0], author, point.message_ids)


def _log_report(report: ModelReport, tried: int, fallback: str) -> None:
    """Counts and reasons only: an item's title is the list's content, and so stays out of the log."""
    dropped = sum(count for _, count in report.dropped)
    log.info("llm: %s wrote %d of %d summaries (%d points); the checks dropped %d point(s)",
             report.model, report.items_written, tried, report.points_kept, dropped)
    if report.fallbacks:
        reasons = Counter(reason for _, reason in report.fallbacks)
        why = "; ".join(f"{reason} ({count})" for reason, count in reasons.most_common())
        log.warning("llm: %d of %d item(s) drafted with the extractive summary (%s) instead: %s",
                    len(report.fallbacks), tried, fallback, why)
