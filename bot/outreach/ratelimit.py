"""The send-rate limiter: at most SEND_RATE_PER_SECOND texts a second across every worker
process and machine (bot/outreach/sending.py takes a slot before each text).

One Lua script (GCRA with no burst) keeps the time of the next free slot on Redis's clock, and
each job reserves the next slot, sleeps until it, then sends. Slots are a fixed interval apart,
so no one-second window ever holds more than the rate, and the interval is a little longer than
1/rate so that the few milliseconds between a slot and the request reaching Twilio cannot push
two sends closer together than Twilio counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis

from bot.infra import keys
from bot.infra.config import Settings
from bot.infra.exceptions import SurveybotError

RATE_LIMIT_KEY = f"{keys.PREFIX}:ratelimit:sms"
CALL_RATE_LIMIT_KEY = f"{keys.PREFIX}:ratelimit:call"  # invitation calls: their own pace
WHATSAPP_RATE_LIMIT_KEY = f"{keys.PREFIX}:ratelimit:whatsapp"  # WhatsApp templates: their own
# Slots are (1 + margin) / rate apart, so `rate` consecutive slots span 1 + margin seconds: if
# a send reaches Twilio up to `margin` seconds (30 ms, at any rate) later after its slot than
# the send `rate` slots before it did, every one-second window at Twilio still holds at most
# `rate`. A process on a busy machine can wait that long for a CPU. It costs 3% of the rate.
RATE_SAFETY_MARGIN = 0.03
MIN_RESERVE_AHEAD_SECONDS = 2.0  # a worker may hold a slot this far ahead (or 2 intervals)
MAX_POLL_SECONDS = 1.0
SLOT_WAIT_LIMIT_SECONDS = 120.0  # then the job retries later

# KEYS[1]: the time (microseconds, Redis's clock) of the next free slot.
# ARGV[1]: microseconds between slots; ARGV[2]: how far ahead a slot may be reserved;
# ARGV[3]: the time now (tests), or "" for Redis's own clock.
# Returns {1, wait, slot}: a slot reserved, `wait` microseconds from now; or {0, wait}: none
# within reach, ask again in `wait` microseconds. Big integers go back as strings (exact).
_RESERVE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local interval = tonumber(ARGV[1])
local ahead = tonumber(ARGV[2])
local now
if ARGV[3] ~= '' then
  now = tonumber(ARGV[3])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, next_free)
local wait = slot - now
if wait > ahead then
  return {0, string.format('%.0f', wait - ahead)}
end
local ttl_ms = math.ceil((wait + interval) / 1000) + 60000
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX', ttl_ms)
return {1, string.format('%.0f', wait), string.format('%.0f', slot)}
"""


class SlotTimeout(SurveybotError):
    """No send slot came up in time (the job retries later)."""


@dataclass(frozen=True)
class Reservation:
    """A limiter's answer: a slot `wait` seconds from now (granted), or ask again then."""

    granted: bool
    wait: float
    slot_us: int | None = None  # the slot on Redis's clock (microseconds), when granted


class SendRateLimiter:
    """At most `rate` sends per second across every process sharing this Redis key."""

    def __init__(
        self,
        redis: Redis,
        rate: float,
        *,
        key: str = RATE_LIMIT_KEY,
        margin: float = RATE_SAFETY_MARGIN,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("the send rate must be positive")
        self.redis = redis
        self.key = key
        self.interval_us = max(1, round(1_000_000 * (1 + margin) / rate))
        self.ahead_us = round(1_000_000 * max(MIN_RESERVE_AHEAD_SECONDS, 2 / rate))
        self._script = redis.register_script(_RESERVE_SCRIPT)
        self._sleep = sleep
        self._monotonic = monotonic

    def reserve(self, now_us: int | None = None) -> Reservation:
        """Reserve the next free slot if it is within reach (`now_us`: a fake clock)."""
        answer = self._script(
            keys=[self.key],
            args=[self.interval_us, self.ahead_us, "" if now_us is None else int(now_us)],
        )
        wait = int(answer[1]) / 1_000_000
        if int(answer[0]):
            return Reservation(granted=True, wait=wait, slot_us=int(answer[2]))
        return Reservation(granted=False, wait=wait)

    def acquire(self, timeout: float = SLOT_WAIT_LIMIT_SECONDS) -> None:
        """Wait for a send slot; SlotTimeout if none came up within `timeout` seconds."""
        deadline = self._monotonic() + timeout
        while True:  # bounded by the deadline
            reservation = self.reserve()
            if reservation.granted:
                if reservation.wait > 0:
                    self._sleep(reservation.wait)
                return
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise SlotTimeout(f"no send slot within {timeout:.0f} s")
            self._sleep(min(reservation.wait, MAX_POLL_SECONDS, remaining))


def rate_of(settings: Settings, kind: str) -> tuple[float, str, str]:
    """A kind of send's pace: (sends a second, the setting that says so, its limiter key).
    Texts and reminders share one; calls and WhatsApp templates have their own."""
    if kind == "call":  # SendKind.CALL (bot/outreach/invitations.py)
        return settings.CALL_RATE_PER_SECOND, "CALL_RATE_PER_SECOND", CALL_RATE_LIMIT_KEY
    if kind == "whatsapp":  # SendKind.WHATSAPP
        return (
            settings.WHATSAPP_RATE_PER_SECOND,
            "WHATSAPP_RATE_PER_SECOND",
            WHATSAPP_RATE_LIMIT_KEY,
        )
    return settings.SEND_RATE_PER_SECOND, "SEND_RATE_PER_SECOND", RATE_LIMIT_KEY
