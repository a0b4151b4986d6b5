"""Deleting message and call records at Twilio (TWILIO_DELETE_MESSAGES=1): the job.

`delete_twilio_record(kind, sid)` runs a little after the record's final status (bot/cleanup.py
schedules it) and sends `DELETE .../Messages/{sid}.json` or `.../Calls/{sid}.json` through the
project's Twilio client. Every outcome is settled inside the job, so it always ends and RQ drops
it with its arguments at once (result_ttl=0):

- 204: deleted. 404 or Twilio error 20404: already gone, which is just as good.
- Temporary (HTTP 429 or 5xx, no connection, or error 20009 "Cannot delete this resource before
  it is complete", which Twilio answers until it has finished with the record): counted as
  retried and handed back to RQ as a `Retry` with backoff; after the last one, counted failed.
- Anything else (401/403, other 4xx): counted failed with its error code, not retried.

The SID is in the job's arguments and nowhere else. Retries are *returned* (`rq.Retry`), not
raised: when a job raises, RQ logs the error with the job's arguments attached to the log
record (`extra`), where any structured log handler would write the SID. Twilio's error text
quotes the request URL, SID included, so only the HTTP status and the error code leave the
except blocks. Twilio's HTTP client logs each request's URL (INFO) and urllib3 each request
line (DEBUG): a filter on those two loggers masks SIDs before any handler sees them.
"""

from __future__ import annotations

import logging
import re

from rq import Retry, get_current_job

from bot.infra import defaults, keys
from bot.infra.outbound import twilio_client
from bot.infra.twilio_rest import TwilioFailure, call_twilio, retry_later
from bot.records.cleanup import (
    CleanupCount,
    RecordKind,
    count_cleanup,
    looks_like_sid,
    record_digest,
)
from workers import context

log = logging.getLogger(__name__)

NOT_FOUND = 20404  # Twilio: no such record (never existed, or deleted already)
NOT_COMPLETE = 20009  # Twilio: cannot delete this resource before it is complete
# Loggers that write the URL of each REST request: Twilio's HTTP client (INFO) and urllib3's
# connection pool (DEBUG).
URL_LOGGERS = ("twilio.http_client", "urllib3.connectionpool")
_SID = re.compile(r"\b(SM|MM|CA)[0-9a-fA-F]{32}\b")


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


def delete_twilio_record(kind: str, sid: str, *, fallback: bool = False) -> str | Retry:
    """Delete one message or call record at Twilio; returns the outcome (never the SID), or a
    `Retry` for RQ to run it again later. `fallback`: scheduled after a "sent" status, and
    skipped if a final status has scheduled the deletion since."""
    settings = context.settings()
    job = get_current_job()
    redis = context.redis()
    kind = RecordKind(kind)
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
