"""Daily caps and a wave's outreach settings: how many texts a day, when, and how long a list
takes.

A send job reserves its place in a day before it claims the person: one Lua script looks for the
first day (from today, on the bot's calendar: REPORT_TIMEZONE) where both the sender's count
(SEND_DAILY_CAP, every wave together) and the wave's own count (its daily cap, if any) are below
their caps, and counts the text there. A job that gets a later day waits (a scheduled RQ job) for
that day's window in its recipient's zone, holding its place; so a list of 10,000 with a cap of
2,000 books five days at once instead of running every job again each morning. The counters hold
counts only, per day, and expire after the horizon.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from redis import Redis

from bot.infra import defaults, keys
from bot.infra.config import Settings
from bot.outreach.ratelimit import RATE_SAFETY_MARGIN  # the limiter's slots: 3% wider
from bot.outreach.windows import SendingWindow, parse_window

HORIZON_DAYS = 366  # the furthest a job books ahead; a list that long is refused at queueing
EPOCH = dt.date(1970, 1, 1)

# KEYS[1]: the sender's counter prefix; KEYS[2]: the wave's ("" for no wave cap).
# ARGV: first day, sender cap (0: none), wave cap (0: none), horizon, TTL (seconds).
# Returns the day counted in, or -1 when every day to the horizon is full.
_RESERVE = """
local day0, scap, wcap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local horizon, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
for d = day0, day0 + horizon do
  local s = tonumber(redis.call('GET', KEYS[1] .. d) or '0')
  local w = 0
  if wcap > 0 then w = tonumber(redis.call('GET', KEYS[2] .. d) or '0') end
  if (scap <= 0 or s < scap) and (wcap <= 0 or w < wcap) then
    redis.call('INCR', KEYS[1] .. d)
    redis.call('EXPIRE', KEYS[1] .. d, ttl)
    if wcap > 0 then
      redis.call('INCR', KEYS[2] .. d)
      redis.call('EXPIRE', KEYS[2] .. d, ttl)
    end
    return d
  end
end
return -1
"""


@dataclass(frozen=True)
class Outreach:
    """How a wave reaches people: its window, its daily cap (0: none) and its reminders."""

    window: SendingWindow
    sender_cap: int
    wave_cap: int
    remind_after_days: int
    max_reminders: int


def outreach_entry(wave) -> dict:  # noqa: ANN001
    """The outreach settings of a wave record, as the registry of open waves carries them."""
    return {
        "window": wave.send_window or "",
        "daily_cap": wave.daily_cap,
        "remind_after_days": wave.remind_after_days,
        "max_reminders": wave.max_reminders,
    }


def wave_outreach(settings: Settings, entry: dict | None) -> Outreach:
    """A wave's outreach from its registry entry (`outreach_entry`), with the settings'
    defaults for what it leaves unset."""
    own = (entry or {}).get("outreach") or {}
    return Outreach(
        window=parse_window(own.get("window") or settings.SEND_WINDOW),
        sender_cap=max(0, settings.SEND_DAILY_CAP),
        wave_cap=max(0, own.get("daily_cap") or 0),
        remind_after_days=int(own.get("remind_after_days", defaults.REMIND_AFTER_DAYS)),
        max_reminders=int(own.get("max_reminders", defaults.MAX_REMINDERS)),
    )


def registry_outreach(settings: Settings, redis: Redis, wave: str) -> Outreach:
    """The outreach of a wave as the registry of open waves holds it (settings if not open)."""
    raw = redis.hget(keys.WAVES_OPEN, wave)
    return wave_outreach(settings, json.loads(raw) if raw else None)


# ---------------------------------------------------------------------------------- the day


def day_of(moment: dt.datetime, settings: Settings) -> int:
    """The bot's day (days since 1970-01-01 in REPORT_TIMEZONE) of an aware moment."""
    local = moment.astimezone(ZoneInfo(settings.REPORT_TIMEZONE)).date()
    return (local - EPOCH).days


def day_start(day: int, settings: Settings) -> dt.datetime:
    """Midnight of the bot's day `day`, as an aware UTC time."""
    date = EPOCH + dt.timedelta(days=day)
    tz = ZoneInfo(settings.REPORT_TIMEZONE)
    return dt.datetime.combine(date, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def day_date(day: int) -> dt.date:
    """The calendar date of a bot's day."""
    return EPOCH + dt.timedelta(days=day)


def reserve(redis: Redis, *, day: int, wave: str, outreach: Outreach) -> int:
    """Count one text on the first day from `day` with room under both caps; returns that
    day, or -1 when none has room within the horizon."""
    script = redis.register_script(_RESERVE)
    ttl = (HORIZON_DAYS + 2) * 86400
    return int(
        script(
            keys=[keys.CAP_SENDER_PREFIX, f"{keys.CAP_WAVE_PREFIX}{wave}:"],
            args=[day, outreach.sender_cap, outreach.wave_cap, HORIZON_DAYS, ttl],
        )
    )


def refund(redis: Redis, *, day: int, wave: str, outreach: Outreach, pipe=None) -> None:  # noqa: ANN001
    """Give back a place counted by `reserve` that will not be used (the text waits for a
    later window, or was not sent)."""
    target = pipe if pipe is not None else redis.pipeline()
    target.decr(f"{keys.CAP_SENDER_PREFIX}{day}")
    if outreach.wave_cap > 0:
        target.decr(f"{keys.CAP_WAVE_PREFIX}{wave}:{day}")
    if pipe is None:
        target.execute()


def counted(redis: Redis, *, day: int, wave: str) -> tuple[int, int]:
    """Texts counted on a day: the sender's (all waves) and this wave's."""
    sender, own = redis.mget(
        f"{keys.CAP_SENDER_PREFIX}{day}", f"{keys.CAP_WAVE_PREFIX}{wave}:{day}"
    )
    return int(sender or 0), int(own or 0)


# ------------------------------------------------------------------------------ the estimate


@dataclass(frozen=True)
class Estimate:
    """How long a number of texts takes: per day, and in days (the first one partly used)."""

    texts: int
    per_day: int
    days: int
    limit: str  # what bounds a day: "the sender's cap", "the wave's cap", "the sending rate"
    window: SendingWindow

    def describe(self) -> str:
        """One line for an organizer."""
        days = "1 day" if self.days == 1 else f"{self.days} days"
        return (
            f"{self.texts} texts at up to {self.per_day} a day ({self.limit}), sent "
            f"{self.window} in each recipient's local time: about {days}"
        )


def estimate(
    texts: int, *, rate: float, outreach: Outreach, used_today: tuple[int, int] = (0, 0)
) -> Estimate:
    """How many days `texts` take at this rate, window and caps, given what today already
    counted (sender's, wave's). A list spread over several zones gets a longer sending day than
    one window: the estimate is the slower bound."""
    by_rate = max(1, math.floor(rate * outreach.window.seconds / (1 + RATE_SAFETY_MARGIN)))
    bounds = [(by_rate, "the sending rate")]
    if outreach.sender_cap:
        bounds.append((outreach.sender_cap, "the sender's daily cap"))
    if outreach.wave_cap:
        bounds.append((outreach.wave_cap, "the wave's daily cap"))
    per_day, limit = min(bounds, key=lambda b: b[0])
    left_today = _left_today(per_day, outreach, used_today)
    if texts <= left_today:
        days = 1 if texts else 0
    else:
        days = (1 if left_today else 0) + math.ceil((texts - left_today) / per_day)
    return Estimate(texts, per_day, days, limit, outreach.window)


def _left_today(per_day: int, outreach: Outreach, used_today: tuple[int, int]) -> int:
    left = per_day
    if outreach.sender_cap:
        left = min(left, max(0, outreach.sender_cap - used_today[0]))
    if outreach.wave_cap:
        left = min(left, max(0, outreach.wave_cap - used_today[1]))
    return left


def estimated_end(
    pending: int, *, rate: float, outreach: Outreach, today: int, used_today: tuple[int, int]
) -> dt.date | None:
    """The day the last of `pending` texts should go out (None: nothing pending)."""
    if pending <= 0:
        return None
    plan = estimate(pending, rate=rate, outreach=outreach, used_today=used_today)
    left_today = _left_today(plan.per_day, outreach, used_today)
    if pending <= left_today:
        return day_date(today)
    return day_date(today + math.ceil((pending - left_today) / plan.per_day))
