"""Deleting message and call records at Twilio (TWILIO_DELETE_MESSAGES=1): the web side.

A webhook or status callback that learns a record's final status calls `schedule_deletion`,
which only touches Redis: a marker (keyed digest of the SID, short TTL) so that a repeated
callback schedules nothing more, and a delayed job (workers/cleanup.py) that carries the SID
and makes the DELETE. The SID lives in that job and nowhere else: not in a key, not in the
database, not in a log line or in the job's description.

A message whose last status is "sent" may never get a delivery receipt, so it is scheduled
much later; if a final status arrives meanwhile it schedules the prompt deletion, and the late
job, finding that marker, does nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from contextlib import suppress
from enum import StrEnum

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from bot.infra import clock, defaults, keys
from bot.infra.config import Settings
from bot.infra.privacy import message_digest
from bot.infra.stats import count


class RecordKind(StrEnum):
    """The kinds of Twilio record the clean-up deletes."""

    MESSAGE = "message"
    CALL = "call"


class CleanupCount(StrEnum):
    """Outcomes counted per day and kind in `keys.cleanup_stats(day)` as "kind:outcome"."""

    SCHEDULED = "scheduled"  # a deletion job was queued (a "sent" one and a final one: two)
    DELETED = "deleted"  # Twilio answered 204
    ALREADY_GONE = "already_gone"  # 404 / error 20404: deleted before, nothing to do
    RETRIED = "retried"  # a temporary error, retried later
    FAILED = "failed"  # refused for good, or temporary errors that outlasted the retries


# SM: an SMS, MM: an MMS; CA: a call. Then 32 hex digits (34 characters in all).
SID_PATTERNS = {
    RecordKind.MESSAGE: re.compile(r"^(?:SM|MM)[0-9a-fA-F]{32}$"),
    RecordKind.CALL: re.compile(r"^CA[0-9a-fA-F]{32}$"),
}
# Statuses after which Twilio changes a record no more.
FINAL_STATUSES = {
    RecordKind.MESSAGE: frozenset(
        {"delivered", "undelivered", "failed", "received", "read", "canceled"}
    ),
    RecordKind.CALL: frozenset({"completed", "busy", "failed", "no-answer", "canceled"}),
}
# Final only if no delivery receipt ever comes: deleted after CLEANUP_SENT_DELAY_SECONDS.
MAYBE_FINAL_STATUSES = {RecordKind.MESSAGE: frozenset({"sent"}), RecordKind.CALL: frozenset()}


def deletion_on(settings: Settings) -> bool:
    """Whether records are deleted at Twilio (switched on, with credentials to do it)."""
    return bool(
        settings.TWILIO_DELETE_MESSAGES
        and settings.TWILIO_ACCOUNT_SID
        and settings.TWILIO_AUTH_TOKEN
    )


def looks_like_sid(kind: RecordKind, sid: str) -> bool:
    """Whether `sid` has the shape of a Twilio SID of this kind of record."""
    return bool(SID_PATTERNS[kind].match(sid or ""))


def record_digest(settings: Settings, sid: str) -> str:
    """The keyed digest that stands for a SID in Redis keys."""
    return message_digest(settings.PSEUDONYM_KEY, sid)


def count_cleanup(redis: Redis, kind: str, *outcomes: str, pipe=None) -> None:  # noqa: ANN001
    """Add one to each outcome of this kind in today's counters (in `pipe` if given)."""
    stats = keys.cleanup_stats(clock.today().isoformat())
    target = pipe if pipe is not None else redis.pipeline(transaction=False)
    count(target, stats, *(f"{kind}:{outcome}" for outcome in outcomes))
    if pipe is None:
        target.execute()


def schedule_deletion(
    settings: Settings, redis: Redis, queue: Queue, *, kind: RecordKind, sid: str, status: str
) -> bool:
    """Schedule the deletion at Twilio of a record that reached `status`; True if a job was
    queued. Nothing happens unless deletion is on, the SID has the shape of its kind and the
    status is final (or "sent"), or when a callback already scheduled it. Redis only."""
    kind = RecordKind(kind)
    status = (status or "").strip().lower()
    if not deletion_on(settings) or not looks_like_sid(kind, sid):
        return False
    digest = record_digest(settings, sid)
    prompt = keys.cleanup_scheduled(kind, digest)
    if status in FINAL_STATUSES[kind]:
        marker, delay, fallback = prompt, defaults.CLEANUP_DELAY_SECONDS, False
    elif status in MAYBE_FINAL_STATUSES[kind]:
        if redis.exists(prompt):
            return False  # a final status came first (callbacks can arrive out of order)
        marker = keys.cleanup_fallback(kind, digest)
        delay, fallback = defaults.CLEANUP_SENT_DELAY_SECONDS, True
    else:
        return False
    if not redis.set(marker, "1", nx=True, ex=defaults.CLEANUP_DEDUP_TTL_SECONDS):
        return False
    from bot.infra.queues import enqueue_record_deletion

    try:
        with redis.pipeline() as pipe:
            enqueue_record_deletion(
                queue,
                kind,
                sid,
                delay=dt.timedelta(seconds=delay),
                fallback=fallback,
                pipeline=pipe,
            )
            count_cleanup(redis, kind, CleanupCount.SCHEDULED, pipe=pipe)
            pipe.execute()
    except RedisError:
        with suppress(RedisError):  # let Twilio's retry of this callback schedule it again
            redis.delete(marker)
        raise
    return True
