"""Sending invitations: one job per number, paced by a send-rate limiter shared in Redis.

The limiter hands out send slots at most SEND_RATE_PER_SECOND per second across every worker
process and machine: one Lua script (GCRA with no burst) keeps the time of the next free slot
on Redis's clock, and each job reserves the next slot, sleeps until it, then sends. Slots are a
fixed interval apart, so no one-second window ever holds more than the rate, and the interval
is a little longer than 1/rate so that the few milliseconds between a slot and the request
reaching Twilio cannot push two sends closer together than Twilio counts.

A job holds its number only while it is pending. Every outcome is settled inside the job, so
the job always ends successfully and RQ deletes it at once (result_ttl=0): sent, opted out
(Twilio error 21610), refused for good (counted as failed), or a temporary error (HTTP 429, 5xx,
no connection) which hands RQ a `Retry` with backoff, and on the last attempt is counted as
failed. Log lines and exceptions name the job, the wave and Twilio's error code; never the
number, and never Twilio's message text (it can quote the number).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from rq import Retry
from rq.job import Job

from bot.infra import keys
from bot.infra.config import Settings
from bot.infra.exceptions import SurveybotError
from bot.infra.outbound import send_sms, twilio_sender
from bot.infra.privacy import message_digest, pseudonym_for
from bot.infra.queues import get_queue
from bot.infra.rotation import carry_over, carry_over_opt_out
from bot.infra.sealing import open_text
from bot.infra.stats import count
from bot.infra.twilio_rest import call_twilio, retry_later
from bot.outreach.invitations import (
    CLAIM_PENDING_TTL_SECONDS,
    INVITED_TTL_SECONDS,
    MESSAGE_MAP_TTL_SECONDS,
    SEND_RETRY_INTERVALS,
    UNSUBSCRIBED,
    InviteCount,
)
from bot.outreach.optouts import mark_opted_out

log = logging.getLogger(__name__)

RATE_LIMIT_KEY = f"{keys.PREFIX}:ratelimit:sms"
# Slots are (1 + margin) / rate apart, so `rate` consecutive slots span 1 + margin seconds: if
# a send reaches Twilio up to `margin` seconds (30 ms, at any rate) later after its slot than
# the send `rate` slots before it did, every one-second window at Twilio still holds at most
# `rate`. A process on a busy machine can wait that long for a CPU. It costs 3% of the rate.
RATE_SAFETY_MARGIN = 0.03
MIN_RESERVE_AHEAD_SECONDS = 2.0  # a worker may hold a slot this far ahead (or 2 intervals)
MAX_POLL_SECONDS = 1.0
SLOT_WAIT_LIMIT_SECONDS = 120.0  # then the job retries later
TWILIO_TIMEOUT_SECONDS = 30.0

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


def _sender(settings: Settings, redis: Redis) -> Callable[[str, str], str | None]:
    """A function sending one text through Twilio (with a timeout), or without credentials to
    the simulator. Built before the wait for a slot, so the send starts right on it."""
    if not settings.twilio_configured:
        return lambda to, body: send_sms(settings, redis, to, body)
    return twilio_sender(settings, timeout=TWILIO_TIMEOUT_SECONDS)


def _count(redis: Redis, wave: str, *outcomes: str, pipe=None) -> None:  # noqa: ANN001
    stats = keys.invite_stats(wave)
    target = pipe if pipe is not None else redis.pipeline()
    count(target, stats, *outcomes, InviteCount.PROCESSED)
    if pipe is None:
        target.execute()


def _opted_out(settings: Settings, redis: Redis, number: str, pseudonym_: str) -> bool:
    """Whether this respondent opted out: the Redis marker, else the database's opt-out table
    (the upload no longer filters them, so that an organizer never learns who did). During a
    key rotation, what is kept under the number's old pseudonyms is carried over first."""
    if settings.PSEUDONYM_OLD_KEYS:
        carry_over(redis, settings, number)
    if redis.exists(keys.opted_out(pseudonym_)):
        return True
    if not settings.DATABASE_URL:
        return False
    from bot.infra.db import session_scope
    from bot.infra.models import OptOut

    with session_scope(settings.DATABASE_URL) as session:
        if settings.PSEUDONYM_OLD_KEYS and carry_over_opt_out(session, settings, number):
            return True
        return session.get(OptOut, pseudonym_) is not None


def send_invitation(
    settings: Settings,
    redis: Redis,
    job: Job | None,
    *,
    wave: str,
    number: str,
    language: str,
    body: str,
) -> str | Retry:
    """Text one invitation (at the shared rate) as `job`; returns the outcome, never the
    number."""
    job_id = job.id if job is not None else uuid.uuid4().hex
    number = open_text(settings.storage_secret_key, number)
    p = pseudonym_for(settings, number)

    if not redis.hexists(keys.WAVES_OPEN, wave):
        _count(redis, wave, InviteCount.CANCELED)
        return "canceled: the wave is not open"
    if _opted_out(settings, redis, number, p):
        _count(redis, wave, InviteCount.OPTED_OUT)
        return "opted out"
    # One invitation per person and wave: a second upload, or a second run of this job after
    # it sent, finds the claim. A retry of this job holds it already.
    claim = keys.invite_claim(p, wave)
    if not redis.set(claim, job_id, nx=True, ex=CLAIM_PENDING_TTL_SECONDS):
        if redis.get(claim) != job_id.encode():
            _count(redis, wave, InviteCount.SKIPPED)
            return "skipped: already invited"

    send = _sender(settings, redis)
    try:
        SendRateLimiter(redis, settings.SEND_RATE_PER_SECOND).acquire()
    except SlotTimeout:
        return _temporary(redis, job, wave, claim, "no send slot in time")
    sid, failure = call_twilio(lambda: send(number, body))
    if failure is not None:
        code = failure.label
        if failure.code == UNSUBSCRIBED:
            with redis.pipeline() as pipe:
                pipe.multi()
                mark_opted_out(redis, get_queue(redis), p, pipeline=pipe)
                pipe.delete(claim)
                _count(redis, wave, InviteCount.OPTED_OUT, f"error:{code}", pipe=pipe)
                pipe.execute()
            log.info("invitation job %s (wave %s): recipient opted out at Twilio", job_id, wave)
            return "opted out"
        # 401: credentials being rotated or mistyped; retrying gives the operator time to fix
        # them instead of spending every number on errors.
        if failure.temporary(also=(401,)):
            return _temporary(redis, job, wave, claim, str(failure))
        with redis.pipeline() as pipe:
            pipe.delete(claim)
            _count(redis, wave, InviteCount.FAILED, f"error:{code}", pipe=pipe)
            pipe.execute()
        log.info("invitation job %s (wave %s): refused, Twilio error %s", job_id, wave, code)
        return f"failed: Twilio error {code}"

    with redis.pipeline() as pipe:
        pipe.set(
            keys.invited(p), json.dumps({"wave": wave, "lang": language}), ex=INVITED_TTL_SECONDS
        )
        pipe.expire(claim, INVITED_TTL_SECONDS)  # this wave invited them: not again
        if sid:
            digest = message_digest(settings.PSEUDONYM_KEY, sid)
            pipe.set(keys.invite_message(digest), wave, ex=MESSAGE_MAP_TTL_SECONDS)
        _count(redis, wave, InviteCount.SENT, pipe=pipe)
        pipe.execute()
    return "sent"


def _temporary(redis: Redis, job, wave: str, claim: str, what: str) -> str | Retry:  # noqa: ANN001
    """Retry later (a `Retry` handed back to RQ), or on the last attempt count the invitation
    as failed.

    Returned, not raised: RQ logs a job that raises with its arguments attached to the log
    record (`extra`), and this job's arguments hold the number, which a structured log
    handler would then write out.
    """
    job_id = job.id if job is not None else "-"
    retry = retry_later(job, SEND_RETRY_INTERVALS)
    if retry is not None:
        log.warning("invitation job %s (wave %s): %s, will retry", job_id, wave, what)
        return retry
    with redis.pipeline() as pipe:
        pipe.delete(claim)
        _count(redis, wave, InviteCount.FAILED, "error:temporary", pipe=pipe)
        pipe.execute()
    log.warning("invitation job %s (wave %s): %s, out of retries: failed", job_id, wave, what)
    return "failed: out of retries"
