"""Deleting message and call records at Twilio (TWILIO_DELETE_MESSAGES=1).

The web side: a webhook or status callback that learns a record's final status calls
`schedule_deletion`, which only touches Redis: a marker (keyed digest of the SID, short TTL) so
that a repeated callback schedules nothing more, and a delayed job (workers/cleanup.py) that
carries the SID and makes the DELETE. The SID lives in that job and nowhere else: not in a key,
not in the database, not in a log line or in the job's description.

A message whose last status is "sent" may never get a delivery receipt, so it is scheduled
much later; if a final status arrives meanwhile it schedules the prompt deletion, and the late
job, finding that marker, does nothing.

The job's side: `delete_record(kind, sid)` sends `DELETE .../Messages/{sid}.json` or
`.../Calls/{sid}.json` through the project's Twilio client. Every outcome is settled inside the
job, so it always ends and RQ drops it with its arguments at once (result_ttl=0):

- 204: deleted. 404 or Twilio error 20404: already gone, which is just as good.
- Temporary (HTTP 429 or 5xx, no connection, or error 20009 "Cannot delete this resource before
  it is complete", which Twilio answers until it has finished with the record): counted as
  retried and handed back to RQ as a `Retry` with backoff; after the last one, counted failed.
- Anything else (401/403, other 4xx): counted failed with its error code, not retried.

Retries are *returned* (`rq.Retry`), not raised: when a job raises, RQ logs the error with the
job's arguments attached to the log record (`extra`), where any structured log handler would
write the SID. Twilio's error text quotes the request URL, SID included, so only the HTTP
status and the error code leave the except blocks. Twilio's HTTP client logs each request's URL
(INFO) and urllib3 each request line (DEBUG): a filter on those two loggers masks SIDs before
any handler sees them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from contextlib import suppress
from enum import StrEnum

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job

from bot.infra import clock, defaults, keys
from bot.infra.config import Settings
from bot.infra.outbound import twilio_client
from bot.infra.privacy import message_digest
from bot.infra.queues import enqueue_record_deletion
from bot.infra.sealing import open_text, seal_text
from bot.infra.stats import count
from bot.infra.twilio_rest import TwilioFailure, call_twilio, retry_later

log = logging.getLogger(__name__)


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


NOT_FOUND = 20404  # Twilio: no such record (never existed, or deleted already)
NOT_COMPLETE = 20009  # Twilio: cannot delete this resource before it is complete
# Loggers that write the URL of each REST request: Twilio's HTTP client (INFO) and urllib3's
# connection pool (DEBUG).
URL_LOGGERS = ("twilio.http_client", "urllib3.connectionpool")
_SID = re.compile(r"\b(SM|MM|CA)[0-9a-fA-F]{32}\b")
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
    try:
        with redis.pipeline() as pipe:
            enqueue_record_deletion(
                queue,
                kind,
                seal_text(settings.storage_public_key, sid),
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


class MaskSids(logging.Filter):
    """Masks message and call SIDs in a log record's text (keeps the two-letter prefix)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without SIDs; never drops a record."""
        message = record.getMessage()
        masked = _SID.sub(r"\1…", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_sids_in_request_logs() -> None:
    """Install `MaskSids` on the loggers that log request URLs (once per process)."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskSids) for f in logger.filters):
            logger.addFilter(MaskSids())


def _delete(settings, kind: RecordKind, sid: str) -> TwilioFailure | None:  # noqa: ANN001
    """DELETE the record; None when Twilio answered 2xx, else why not."""
    client = twilio_client(settings)
    client.http_client.timeout = defaults.CLEANUP_HTTP_TIMEOUT_SECONDS
    resource = client.messages(sid) if kind is RecordKind.MESSAGE else client.calls(sid)
    return call_twilio(resource.delete)[1]


def delete_record(
    settings: Settings,
    redis: Redis,
    job: Job | None,
    kind: str,
    sid: str,
    *,
    fallback: bool = False,
    log: logging.Logger = log,
) -> str | Retry:
    """Delete one message or call record at Twilio (the clean-up job); returns the outcome
    (never the SID), or a `Retry` for RQ to run it again later. `fallback`: scheduled after a
    "sent" status, and skipped if a final status has scheduled the deletion since. `log`: where
    the outcome is told (the job's own logger)."""
    kind = RecordKind(kind)
    sid = open_text(settings.storage_secret_key, sid)
    if not looks_like_sid(kind, sid):
        count_cleanup(redis, kind, CleanupCount.FAILED, "error:not-a-sid")
        log.warning("clean-up job: a %s SID of the wrong shape, nothing deleted", kind)
        return "failed: not a SID"
    if fallback and redis.exists(keys.cleanup_scheduled(kind, record_digest(settings, sid))):
        return "skipped: a final status scheduled the deletion"
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
        count_cleanup(redis, kind, CleanupCount.FAILED, "error:no-credentials")
        log.warning("clean-up job: no Twilio credentials, %s record not deleted", kind)
        return "failed: no Twilio credentials"

    mask_sids_in_request_logs()
    failure = _delete(settings, kind, sid)
    if failure is None:
        count_cleanup(redis, kind, CleanupCount.DELETED)
        log.info("clean-up job: %s record deleted at Twilio", kind)
        return "deleted"
    if failure.status == 404 or failure.code == NOT_FOUND:
        count_cleanup(redis, kind, CleanupCount.ALREADY_GONE)
        log.info("clean-up job: %s record already gone at Twilio", kind)
        return "already gone"
    # 20009 is recognized by its code, whatever HTTP status comes with it.
    if failure.temporary(also=(NOT_COMPLETE,)):
        retry = retry_later(job, defaults.CLEANUP_RETRY_INTERVALS)
        if retry is not None:
            count_cleanup(redis, kind, CleanupCount.RETRIED)
            log.warning("clean-up job: %s record not deleted (%s), will retry", kind, failure)
            return retry
        count_cleanup(redis, kind, CleanupCount.FAILED, "error:temporary")
        log.warning("clean-up job: %s record not deleted (%s), out of retries", kind, failure)
        return "failed: out of retries"
    count_cleanup(redis, kind, CleanupCount.FAILED, f"error:{failure.label}")
    log.warning("clean-up job: %s record not deleted (%s), not retried", kind, failure)
    return f"failed: {failure}"
