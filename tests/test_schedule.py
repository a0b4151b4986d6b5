"""The weekly report's schedule: REPORT_CRON in REPORT_TIMEZONE, right across DST changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from bot.infra.exceptions import ConfigError
from bot.releases.schedule import is_due, utc_cron_expressions

NEW_YORK = "America/New_York"


def firings(expressions, start, end):
    """Every UTC moment RQ's cron would enqueue the job between start and end."""
    out = set()
    for expression in expressions:
        it = croniter(expression, start)
        while (moment := it.get_next(dt.datetime)) < end:
            out.add(moment.replace(tzinfo=dt.UTC))
    return sorted(out)


@pytest.mark.parametrize(
    "expression, zone",
    [
        ("0 8 * * 1", NEW_YORK),  # the default: Monday 08:00 in Miami's time zone
        ("30 22 * * 0", NEW_YORK),  # Sunday evening local is Monday in UTC
        ("0 2 * * 1", "Europe/Paris"),  # Monday 02:00 local is Sunday/Monday midnight UTC
        ("15 9 * * 1", "Asia/Kolkata"),  # a half-hour offset and no DST
        ("0 8 * * 1-5", NEW_YORK),  # a range of weekdays: checked every minute
    ],
)
def test_sends_exactly_at_the_local_time_every_week_for_two_years(expression, zone):
    tz = ZoneInfo(zone)
    expressions = utc_cron_expressions(expression, zone, year=2026)
    start = dt.datetime(2026, 1, 1)
    end = dt.datetime(2027, 12, 31) if "-" not in expression else dt.datetime(2026, 4, 1)
    due = [m for m in firings(expressions, start, end) if is_due(expression, zone, m)]
    expected = []
    it = croniter(expression, start)
    while (local := it.get_next(dt.datetime)) < end:
        expected.append(local)
    # Every local occurrence is hit once, at the right local wall-clock time.
    assert [m.astimezone(tz).replace(tzinfo=None) for m in due] == expected


def test_the_default_covers_both_sides_of_daylight_saving_time():
    assert utc_cron_expressions("0 8 * * 1", NEW_YORK, year=2026) == ["0 13 * * 1", "0 12 * * 1"]
    winter = dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.UTC)  # 08:00 EST
    summer = dt.datetime(2026, 7, 6, 12, 0, tzinfo=dt.UTC)  # 08:00 EDT
    assert is_due("0 8 * * 1", NEW_YORK, winter)
    assert is_due("0 8 * * 1", NEW_YORK, summer)
    assert not is_due("0 8 * * 1", NEW_YORK, winter - dt.timedelta(hours=1))  # 07:00 EST
    assert not is_due("0 8 * * 1", NEW_YORK, summer + dt.timedelta(hours=1))  # 09:00 EDT


def test_the_first_monday_after_each_change():
    # 2026-03-08 US clocks spring forward; 2026-11-01 they fall back.
    for day, utc_hour in (
        (dt.date(2026, 3, 2), 13),
        (dt.date(2026, 3, 9), 12),
        (dt.date(2026, 10, 26), 12),
        (dt.date(2026, 11, 2), 13),
    ):
        moment = dt.datetime(day.year, day.month, day.day, utc_hour, tzinfo=dt.UTC)
        assert is_due("0 8 * * 1", NEW_YORK, moment), day


@pytest.mark.parametrize("bad", ["", "0 8 * *", "every monday", "61 8 * * 1"])
def test_a_bad_schedule_is_a_clear_error(bad):
    with pytest.raises(ConfigError, match="REPORT_CRON"):
        utc_cron_expressions(bad, NEW_YORK)
