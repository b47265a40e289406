"""Crontab lines ("minute hour day month weekday"), checked the way cron reads them.

Plain string work, so that loading the config can refuse a bad line without
importing APScheduler; bot.schedule.jobs turns a checked line into a trigger.
"""

from __future__ import annotations

from typing import NamedTuple

CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab counts 0 (and 7) as Sunday
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# Each field's name, smallest and largest value (the weekday is read by crontab_weekdays).
_RANGES = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12))


class CronFields(NamedTuple):
    """A crontab line's fields, the weekday as day names (APScheduler 3 counts 0 as Monday)."""

    minute: str
    hour: str
    day: str
    month: str
    day_of_week: str


def crontab_fields(expr: str) -> CronFields:
    """The five fields of a crontab line; ValueError says what is wrong with it."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError("a crontab line has 5 fields: minute hour day month weekday")
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        # cron runs when either matches, APScheduler only when both do: refuse rather than guess.
        raise ValueError("restrict the day of the month or the weekday, not both")
    for value, (name, low, high) in zip(fields, _RANGES, strict=False):
        _check_field(name, value.lower(), low, high)
    return CronFields(minute, hour, day, month.lower(), crontab_weekdays(weekday))


def _check_field(name: str, field: str, low: int, high: int) -> None:
    for part in field.split(","):
        span, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            raise ValueError(f"{name}: {part!r}: the step after '/' must be a whole number above 0")
        if span == "*":
            continue
        first, dash, last = span.partition("-")
        start = _number(name, first, low, high)
        if dash and _number(name, last, low, high) < start:
            raise ValueError(f"{name}: range {span!r} runs backwards")


def _number(name: str, token: str, low: int, high: int) -> int:
    if name == "month" and token in _MONTHS:
        return _MONTHS.index(token) + 1
    if not token.isdigit():
        raise ValueError(f"{name}: not a number: {token!r}")
    if not low <= int(token) <= high:
        raise ValueError(f"{name}: {token} is not in {low}-{high}")
    return int(token)


def crontab_weekdays(field: str) -> str:
    """Crontab's weekday field as day names: APScheduler 3 counts 0 as Monday, crontab as Sunday."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step = part.partition("/")
        first, _, last = span.partition("-")
        if step and not (step.isdigit() and int(step) > 0):
            raise ValueError(f"weekday: {part!r}: the step after '/' must be a whole number above 0")
        if span == "*":
            low, high = 0, 6
        else:
            low = _crontab_day(first)
            high = _crontab_day(last) if last else (6 if step else low)
            high = 7 if high == 0 and low > 0 else high  # "fri-sun"
        if high < low:
            raise ValueError(f"weekday range {span!r} runs backwards")
        days.update(n % 7 for n in range(low, high + 1, int(step or 1)))
    return ",".join(CRONTAB_DAYS[n] for n in sorted(days))


def _crontab_day(token: str) -> int:
    if token in CRONTAB_DAYS:
        return CRONTAB_DAYS.index(token)
    if token.isdigit() and int(token) <= 7:
        return int(token)
    raise ValueError(f"not a weekday: {token!r}")
