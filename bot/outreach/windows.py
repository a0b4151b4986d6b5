"""Sending windows: the hours a text may reach a person, in their own local time.

The time zone comes from the number itself (phonenumbers' area-code data), read in the send job
the moment before sending and never stored. A number the data gives several zones (a US
non-geographic number, a mobile range of a large country) gets the narrowest window inside every
zone's window: 9:00-20:00 for a number that may be in New York or Los Angeles is 12:00-20:00
Eastern (9:00-17:00 Pacific). A number with no known zone is read in the bot's own zone.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import NumberParseException
from phonenumbers import timezone as number_timezones

from bot.infra.exceptions import SurveybotError

_WINDOW = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$")
UNKNOWN_ZONE = "Etc/Unknown"
SEARCH_DAYS = 8  # a window that opens at all opens within a week (plus a day of zone offsets)


class WindowError(SurveybotError):
    """A sending window that cannot be read (with the reason, for the organizer)."""


@dataclass(frozen=True)
class SendingWindow:
    """From `start` (included) to `end` (excluded), minutes after local midnight (0 to 1440)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.start // 60}:{self.start % 60:02d}-{self.end // 60}:{self.end % 60:02d}"

    @property
    def seconds(self) -> int:
        """How long the window is open each day."""
        return (self.end - self.start) * 60

    @property
    def opening(self) -> dt.time:
        """The local time the window opens."""
        return dt.time(self.start // 60, self.start % 60)

    def contains(self, local: dt.datetime) -> bool:
        """Whether a local wall-clock time is inside the window."""
        seconds = (local.hour * 60 + local.minute) * 60 + local.second
        return self.start * 60 <= seconds < self.end * 60


def parse_window(text: str) -> SendingWindow:
    """A window written as 9:00-20:00 (or 9-20; 0:00-24:00 is all day); WindowError when it
    is not one."""
    match = _WINDOW.match(text or "")
    if not match:
        raise WindowError(f"{text!r} is not a sending window: write it as 9:00-20:00")
    h1, m1, h2, m2 = (int(g) if g else 0 for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or not (0 <= start < 1440 and 0 < end <= 1440):
        raise WindowError(f"{text!r} is not a sending window: hours are 0:00 to 24:00")
    if end - start < 60:
        raise WindowError(f"{text!r}: a sending window starts before it ends, an hour or more")
    return SendingWindow(start, end)


def zones_for_number(number: str, *, fallback: str) -> tuple[str, ...]:
    """The time zones a number (E.164) may be in; `fallback` when the data knows none."""
    try:
        parsed = phonenumbers.parse(number, None)
    except NumberParseException:
        return (fallback,)
    zones = []
    for name in number_timezones.time_zones_for_number(parsed):
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        zones.append(name)
    return tuple(zones) or (fallback,)


def inside(moment: dt.datetime, zones: tuple[str, ...], window: SendingWindow) -> bool:
    """Whether `moment` (aware) is inside the window in every one of the zones."""
    return all(window.contains(moment.astimezone(ZoneInfo(zone))) for zone in zones)


def _starts(after: dt.datetime, zone: str, window: SendingWindow) -> list[dt.datetime]:
    """The window's openings in `zone`, as aware UTC times, over the days after `after`."""
    tz = ZoneInfo(zone)
    first = after.astimezone(tz).date() - dt.timedelta(days=1)
    return [
        dt.datetime.combine(first + dt.timedelta(days=i), window.opening, tzinfo=tz).astimezone(
            dt.UTC
        )
        for i in range(SEARCH_DAYS + 2)
    ]


def next_send_time(
    now: dt.datetime, zones: tuple[str, ...], window: SendingWindow, *, fallback: str
) -> dt.datetime:
    """`now` when it is inside the window in every zone, else the first moment after that is.

    The common window of several zones opens when the last of them opens, so the first moment
    is `now` or one of the zones' openings. Zones too far apart to share any hour (a range that
    spans the Pacific) are read as the bot's own zone, `fallback`.
    """
    if inside(now, zones, window):
        return now
    candidates = sorted(t for zone in zones for t in _starts(now, zone, window) if t > now)
    for moment in candidates:
        if inside(moment, zones, window):
            return moment
    if zones != (fallback,):
        return next_send_time(now, (fallback,), window, fallback=fallback)
    raise WindowError("no sending window opens within a week")  # pragma: no cover - 1 zone
