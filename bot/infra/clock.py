"""The bot's calendar: today's date and the current time, read in one place.

Dates decide what a report covers (the last complete ISO week), which waves were open during a
week, and the day a response or a counter is filed under. Reading them here, not from
`datetime` at each call site, lets tests fix the calendar (tests/conftest.py: `clock`) so that no
test depends on the day it runs. Timers that Redis or RQ compare with their own clocks (TTLs,
scheduled jobs, session ages) keep reading the real time.
"""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    """The current time in UTC (timezone-aware)."""
    return dt.datetime.now(dt.UTC)


def today() -> dt.date:
    """Today's date on this machine's calendar."""
    return dt.date.today()
