"""Cron times in a local time zone: RQ's cron runs in UTC (`surveybot cron` pins TZ=UTC), while
the coalition says "Monday 08:00 in America/New_York".

`utc_cron_expressions` turns a local expression into one UTC expression per UTC offset the
zone uses (standard and daylight time), all registered; each firing checks with `is_due`
whether the moment it was enqueued is a local moment of the expression, so exactly one of
them acts, right across daylight-saving changes. Used by the weekly report and the releases.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from croniter import croniter

from bot.infra import clock
from bot.infra.exceptions import ConfigError

EVERY_MINUTE = "* * * * *"


def _offsets(zone: ZoneInfo, year: int) -> list[dt.timedelta]:
    """Every UTC offset a zone uses during a year (usually standard and daylight time)."""
    seen: list[dt.timedelta] = []
    day = dt.datetime(year, 1, 1, 12, tzinfo=zone)
    for _ in range(366):
        offset = day.utcoffset()
        if offset is not None and offset not in seen:
            seen.append(offset)
        day += dt.timedelta(days=1)
    return seen


def _shift_weekdays(field: str, days: int) -> str | None:
    if field == "*" or days == 0:
        return field
    out = []
    for part in field.split(","):
        if not (part.isascii() and part.isdigit()):
            return None  # ranges and names: use the every-minute fallback
        out.append(str((int(part) + days) % 7))
    return ",".join(out)


def utc_cron_expressions(expression: str, timezone: str, year: int | None = None) -> list[str]:
    """UTC cron expressions that cover a local `expression` under every offset of `timezone`."""
    fields = expression.split()
    if len(fields) != 5:
        raise ConfigError(f"REPORT_CRON {expression!r} is not a five-field cron expression")
    if not croniter.is_valid(expression):
        raise ConfigError(f"REPORT_CRON {expression!r} is not a valid cron expression")
    minute, hour, dom, month, dow = fields
    if not all(f.isascii() and f.isdigit() for f in (minute, hour)):
        return [EVERY_MINUTE]  # an unusual schedule: check every minute, send when due
    zone = ZoneInfo(timezone)
    local_minutes = int(hour) * 60 + int(minute)
    expressions = []
    for offset in _offsets(zone, year or clock.today().year):
        total = local_minutes - int(offset.total_seconds() // 60)
        day_shift, minutes = divmod(total, 24 * 60)
        weekdays = _shift_weekdays(dow, day_shift)
        if weekdays is None or (day_shift and dom != "*"):
            return [EVERY_MINUTE]
        expressions.append(f"{minutes % 60} {minutes // 60} {dom} {month} {weekdays}")
    return list(dict.fromkeys(expressions))


def is_due(expression: str, timezone: str, moment: dt.datetime) -> bool:
    """Whether `moment` (aware) is a time `expression` names in `timezone`."""
    local = moment.astimezone(ZoneInfo(timezone)).replace(second=0, microsecond=0, tzinfo=None)
    return croniter.match(expression, local)
