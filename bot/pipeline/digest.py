"""Draft one period's digest from the store: the pipeline, stage by stage.

store -> clean -> thread -> group -> summarize -> a `Digest` for render.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.errors import ConfigError
from bot.model import AOB, Digest, Item, Mail, ModelReport, Section, SummarySentence, Thread
from bot.pipeline.clean import CleanBody, clean_body
from bot.pipeline.followup import (
    action_notes,
    coverage,
    done_lines,
    is_readable,
    mails_to_cover,
    mark_late,
    without_done,
)
from bot.pipeline.group import compile_rules, effective_rules, make_items, section_of
from bot.pipeline.people import display_names, name_key, with_display_names
from bot.pipeline.thread import build_threads
from bot.settings import WEEKDAYS, Settings
from bot.store.sqlite_reader import MailReader

if TYPE_CHECKING:
    from bot.render.digest import RenderOptions


# A fork and the trip back cost a few milliseconds: below about this much work, one process is quicker.
FORK_MIN_CHARS = 100_000  # of mail to clean
FORK_MIN_COST = 300.0  # sentences' worth of summarizing (see _summary_cost)
_CHARS_PER_SENTENCE = 80
_QUADRATIC_FROM = 1200  # LexRank's pairwise work matches the per-sentence work at about this many sentences


def period_for(settings: Settings, *, week_of: datetime | None, since: datetime | None,
               until: datetime | None) -> tuple[datetime, datetime]:
    """The [start, end) of the digest, in the list's timezone."""
    zone = ZoneInfo(settings.list.timezone)
    if week_of is not None:
        if since or until:
            raise ConfigError("--week-of cannot be combined with --since/--until")
        first = 0 if settings.digest.week_starts == "monday" else 6
        day = week_of.date()
        start_day = day - timedelta(days=(day.weekday() - first) % 7)
        return _at_midnight(start_day, zone), _at_midnight(start_day + timedelta(days=7), zone)
    if since is None or until is None:
        raise ConfigError("give --week-of DATE, or both --since DATE and --until DATE")
    if until <= since:
        raise ConfigError("--until must be after --since")
    return _at_midnight(since.date(), zone), _at_midnight(until.date(), zone)


def _at_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def build_digest(store: MailReader, settings: Settings, start: datetime, end: datetime,
                 *, title_date: date | None = None, parallel: bool = False) -> Digest:
    """Everything the renderer needs for the period [start, end).

    `parallel` lets a forked child clean and summarize part of the mail (the same digest,
    sooner); for a single-threaded process, such as one command (`fork_map` checks).
    """
    in_period, late = mails_to_cover(store, start, end)  # late: dated earlier, in no digest yet
    # Unreadable mail is taken (so it is not carried on forever) but left out of every item.
    mails = sorted((m for m in [*in_period, *late] if is_readable(m)), key=lambda m: (m.date, m.message_id))
    context = _context_mails(store, mails)
    names = display_names([*context, *mails])  # one person, one name, wherever they are listed
    mails, context = with_display_names(mails, names), with_display_names(context, names)
    threads = build_threads([*context, *mails], frozenset(m.message_id for m in context))
    threads = [t for t in threads if t.new_mails]
    cleaned = _clean_all([m for t in threads for m in t.mails], parallel)
    items = make_items(threads, cleaned)
    items = _summarize_all(items, cleaned, settings, parallel)
    items, report = _model_summaries(items, cleaned, settings)
    items = mark_late(items, frozenset(m.message_id for m in late))
    carried = store.carried_actions(start, end)
    closings, refused = done_lines(mails, carried, settings.digest.chair)
    open_actions, closed_actions = action_notes(carried, closings)
    sections = _sections(items, settings)
    writers = _writers(threads)
    participants = attendees(writers, settings)
    day = title_date or (end - timedelta(days=1)).date()
    return Digest(
        title=settings.digest.title.format(date=day.isoformat(), list=settings.list.name),
        list_name=settings.list.name,
        period_start=start,
        period_end=end,
        chair=settings.digest.chair,
        attendees=participants,
        sections=sections,
        stats={"messages": len(in_period) + len(late), "threads": len(threads), "participants": len(writers)},
        next_call=next_call(settings, end),
        model_report=report,
        coverage=coverage(in_period, late, items),
        open_actions=open_actions,
        closed_actions=closed_actions,
        closings=tuple(closings),
        refused=tuple(refused),
    )


def _context_mails(store: MailReader, mails: Sequence[Mail]) -> list[Mail]:
    """Earlier messages of threads that continue into the period."""
    have = {m.message_id for m in mails}
    wanted = {ref for m in mails for ref in (*m.references, m.in_reply_to or "") if ref and ref not in have}
    return store.mails_by_ids(wanted) if wanted else []


def _clean_all(mails: Sequence[Mail], parallel: bool) -> dict[str, CleanBody]:
    # DONE: lines close actions (read from the bodies, see done_lines) and are not summarized: they leave
    # before cleaning, which would join one to the line above it.
    bodies = [without_done(m.body) for m in mails]
    if parallel:
        from bot.parallel import fork_map

        cleaned = fork_map(clean_body, bodies, [len(body) for body in bodies], min_cost=FORK_MIN_CHARS)
    else:
        cleaned = [clean_body(body) for body in bodies]
    return {m.message_id: body for m, body in zip(mails, cleaned, strict=True)}


def _summarize_all(items: Sequence[Item], cleaned: dict[str, CleanBody], settings: Settings,
                   parallel: bool) -> list[Item]:
    from bot.pipeline.items import digest_shrink

    shrink = digest_shrink(settings.digest.summary_words, items)  # the digest's total bounds every item's words

    def summarized(item: Item) -> dict[str, Any]:
        return _summary_fields(item, cleaned, settings, shrink)

    if parallel:
        from bot.parallel import fork_map

        costs = [_summary_cost(item, cleaned) for item in items]
        # While the child finishes, this process loads the renderer it needs next.
        fields = fork_map(summarized, items, costs, min_cost=FORK_MIN_COST, while_waiting=_load_renderer)
    else:
        fields = [summarized(item) for item in items]
    from bot.pipeline.summarize.tokenize import forget_text

    forget_text()  # a daemon drafting list after list keeps no memo of text no later draft repeats
    return [replace(item, **changed) for item, changed in zip(items, fields, strict=True)]


def _model_summaries(items: list[Item], cleaned: dict[str, CleanBody],
                     settings: Settings) -> tuple[list[Item], ModelReport | None]:
    """With `strategy = "llm"`: the model's checked summaries replace the extractive ones where they succeed."""
    if settings.digest.strategy != "llm":
        return items, None
    from bot.pipeline.items import item_budget
    from bot.pipeline.summarize.llm import summarize_items

    words = [item_budget(settings.digest.summary_words, item) for item in items]
    return summarize_items(items, cleaned, settings.llm, words)


def _load_renderer() -> None:
    import bot.render.digest  # noqa: F401 - imported for its cost, paid here instead of after the summaries


def _summary_cost(item: Item, cleaned: dict[str, CleanBody]) -> float:
    """A rough cost of summarizing `item`, in sentences' worth of work: per sentence, plus pairwise."""
    if item.note:
        return 0.0
    chars = sum(len(cleaned[m.message_id].text) for t in item.threads for m in t.new_mails)
    sentences = chars / _CHARS_PER_SENTENCE
    return sentences + sentences * sentences / _QUADRATIC_FROM


def _summary_fields(item: Item, cleaned: dict[str, CleanBody], settings: Settings,
                    shrink: float = 1.0) -> dict[str, Any]:
    """Summarize the item's new messages (context only: continued threads' older ones): the fields to set."""
    from bot.pipeline.items import MIN_SCALE, as_sentence, item_budget, take_actions, votes, without_vote
    from bot.pipeline.points import summarize_points
    from bot.pipeline.summarize import Utterance, summarize_thread

    continued = any(t.context_ids for t in item.threads)
    if item.note:  # a patch series or pull request is one line, not a summary
        return {"continued": continued}
    mails = _discussion_order(item.threads)
    utterances: list[Utterance] = []
    actions: dict[str, str] = {}  # "who, what" -> the Message-ID it was lifted from
    participants = item.participants  # a property that walks every mail: once, not once per mail
    for mail in mails:
        # An action is listed once, as "Action: who, what", so it leaves the summarized text.
        # A DONE: line closes an action (bot/pipeline/followup.py); like an ACTION: line, it is not summarized.
        taken = take_actions(without_done(without_vote(cleaned[mail.message_id].text)), mail.author, participants)
        for action in taken.items:
            actions.setdefault(action, mail.message_id)
        if taken.text:
            utterances.append(Utterance(mail.thread_id, mail.author, taken.text))
    words = max(round(MIN_SCALE * settings.digest.summary_words),
                round(shrink * item_budget(settings.digest.summary_words, item)))
    # With a model, this is the summary an item falls back to.
    strategy = settings.llm.fallback if settings.digest.strategy == "llm" else settings.digest.strategy
    by_id = {u.message_id: u for u in utterances}

    def summarize(group: Sequence[Mail], budget: int) -> list[SummarySentence]:
        said = [by_id[m.thread_id] for m in group if m.thread_id in by_id]
        return summarize_thread(said, words=budget, strategy=strategy)

    summary = summarize_points(mails, words, summarize)  # a big thread: point by point
    summary = [replace(s, text=as_sentence(s.text)) for s in summary]
    return {"summary": tuple(summary), "continued": continued, "actions": tuple(actions),
            "action_sources": tuple(actions.values()),
            "note": votes(mails, cleaned), "summary_by": strategy}


def _discussion_order(threads: Sequence[Thread]) -> list[Mail]:
    return sorted((m for t in threads for m in t.new_mails), key=lambda m: (m.date, m.message_id))


def _sections(items: Sequence[Item], settings: Settings) -> tuple[Section, ...]:
    rules = effective_rules(settings.digest.sections)
    compiled = compile_rules(rules)
    by_key: dict[str, list[Item]] = {}
    for item in items:
        by_key.setdefault(section_of(item, compiled), []).append(item)
    sections = [
        Section(rule.key, rule.title, tuple(sorted(by_key[rule.key], key=_activity)))
        for rule in rules if by_key.get(rule.key)
    ]
    return tuple(_order_sections(sections, settings.digest.section_order))


def _activity(item: Item) -> tuple[int, int, str]:
    """Busiest first: distinct participants, then messages; then by title."""
    return (-len(item.participants), -item.message_count, item.title.lower())


def _order_sections(sections: list[Section], order: Sequence[str]) -> list[Section]:
    if order:
        rank = {key: i for i, key in enumerate(order)}
        return sorted(sections, key=lambda s: (s.key == AOB, rank.get(s.key, len(rank))))

    def busiest(section: Section) -> tuple[bool, int, int]:
        people = {p for item in section.items for p in item.participants}
        return (section.key == AOB, -len(people), -sum(i.message_count for i in section.items))

    return sorted(sections, key=busiest)


def _writers(threads: Sequence[Thread]) -> set[str]:
    """Everyone who wrote in the period; not bots (GitHub, CI), whose items name the people."""
    from bot.pipeline.series import is_notification

    return {m.author for t in threads for m in t.new_mails if not is_notification(m)}


def attendees(writers: set[str], settings: Settings) -> tuple[str, ...]:
    """The minutes' attendees: the chair first, then everyone who wrote, by last name."""
    chair = settings.digest.chair
    others = sorted((n for n in writers if name_key(n) != name_key(chair)),
                    key=lambda n: (n.split()[-1].lower() if n else "", n))
    return (chair, *others) if chair else tuple(others)


def next_call(settings: Settings, after: datetime) -> datetime | None:
    """The first configured call day on or after the end of the period."""
    weekday = settings.digest.call_weekday.lower()
    if not weekday:
        return None
    if weekday not in WEEKDAYS:
        raise ConfigError(f"digest.call_weekday: not a weekday: {weekday!r}")
    hour, _, minute = settings.digest.call_time.partition(":")
    local = after.astimezone(ZoneInfo(settings.list.timezone))
    days = (WEEKDAYS.index(weekday) - local.weekday()) % 7
    days += 7 * (settings.digest.call_every_weeks - 1)
    when = datetime.combine(local.date() + timedelta(days=days), time(int(hour), int(minute or 0)), local.tzinfo)
    return when


def render_options(settings: Settings) -> RenderOptions:
    from bot.render.digest import RenderOptions
    from bot.render.message import bot_address

    return RenderOptions(
        archive_url=settings.list.archive_url,
        from_address=bot_address(settings),
        to_address=settings.list.address,
        reply_to=settings.list.address,
        subject_prefix=f"[{settings.list.name}]" if settings.list.name else "",
    )
