"""ISO weeks ("2026-W47"): the finest time unit a published or stored figure is grouped by."""

from __future__ import annotations

import datetime as dt
import re

from bot.infra.exceptions import SurveybotError

_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")


def iso_week(day: dt.date) -> str:
    """The ISO week of a date, as "YYYY-Www"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(week: str) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of an ISO week given as "YYYY-Www"."""
    match = _WEEK.fullmatch(week.strip())
    if not match:
        raise SurveybotError(f"{week!r} is not an ISO week like 2026-W47")
    year, number = int(match[1]), int(match[2])
    try:
        monday = dt.date.fromisocalendar(year, number, 1)
    except ValueError as exc:
        raise SurveybotError(f"{week!r} does not exist") from exc
    return monday, monday + dt.timedelta(days=6)


def previous_week(week: str) -> str:
    """The ISO week before this one."""
    monday, _ = parse_week(week)
    return iso_week(monday - dt.timedelta(days=7))


def last_complete_week(today: dt.date) -> str:
    """The most recent ISO week that has ended (the one a Monday report is about)."""
    return iso_week(today - dt.timedelta(days=today.isoweekday()))
