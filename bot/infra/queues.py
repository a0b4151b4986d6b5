"""The queue, and how each kind of job is enqueued (retries, result lifetime).

Jobs are named by the dotted path of their shell in `workers/` (RQ imports it in the worker):
the bot enqueues them by name and never imports the job shells.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis import Redis
from redis.client import Pipeline
from rq import Queue, Retry

from bot.infra import defaults

# Storage of completed responses is the batch job (cron); the per-response job is only run for
# jobs an earlier release queued.
STORE_BATCH_JOB = "workers.storage.store_batch"
STORE_RESPONSE_JOB = "workers.storage.store_response"
RECORD_OPT_OUT_JOB = "workers.storage.record_opt_out"
RECORD_OPT_IN_JOB = "workers.storage.record_opt_in"
STORAGE_JOBS = frozenset({STORE_RESPONSE_JOB, RECORD_OPT_OUT_JOB, RECORD_OPT_IN_JOB})
REFRESH_AGGREGATES_JOB = "workers.aggregation.refresh_aggregates"
SEND_INVITATION_JOB = "workers.invitations.send_invitation"
DELETE_TWILIO_RECORD_JOB = "workers.cleanup.delete_twilio_record"
RETRY_WEEKLY_REPORT_JOB = "workers.weekly.retry_weekly_report"
SEND_WHATSAPP_TURN_JOB = "workers.whatsapp.send_whatsapp_turn"


def get_queue(connection: Redis, name: str = defaults.QUEUE_NAME) -> Queue:
    """The project's queue on this connection."""
    return Queue(name, connection=connection)


def enqueue_opt_out(queue: Queue, pseudonym: str, day: str, *, opted_out: bool, pipeline=None):
    """Record an opt-out (or opt-in) by pseudonym in the database."""
    return queue.enqueue_call(
        RECORD_OPT_OUT_JOB if opted_out else RECORD_OPT_IN_JOB,
        args=(pseudonym, day) if opted_out else (pseudonym,),
        retry=Retry(
            max=len(defaults.STORE_RETRY_INTERVALS), interval=list(defaults.STORE_RETRY_INTERVALS)
        ),
        result_ttl=0,
        description="record an opt-out change",
        pipeline=pipeline,
    )


def enqueue_record_deletion(
    queue: Queue,
    kind: str,
    sid: str,
    *,
    delay: timedelta,
    fallback: bool = False,
    pipeline: Pipeline | None = None,
):
    """Schedule the deletion of one Twilio record `delay` from now.

    The SID is in the job's arguments only, sealed to the storage key pair by the caller
    (bot/infra/sealing.py `seal_text`), so Redis's files never hold it in clear. The
    description names the kind (RQ would otherwise describe the job by its call), the job
    leaves Redis as soon as it ends (result_ttl=0; every outcome is settled inside it), and a
    job that died with its worker is
    dropped from the failed registry after CLEANUP_FAILURE_TTL_SECONDS.
    """
    intervals = list(defaults.CLEANUP_RETRY_INTERVALS)
    job = queue.create_job(
        DELETE_TWILIO_RECORD_JOB,
        args=(str(kind), sid),
        kwargs={"fallback": fallback},
        timeout=defaults.CLEANUP_JOB_TIMEOUT_SECONDS,
        result_ttl=0,
        failure_ttl=defaults.CLEANUP_FAILURE_TTL_SECONDS,
        description=f"delete a {kind} record at Twilio",
        retry=Retry(max=len(intervals), interval=intervals),
    )
    return queue.schedule_job(job, datetime.now(UTC) + delay, pipeline=pipeline)


def enqueue_whatsapp_turn(queue: Queue, sealed: str):  # noqa: ANN201
    """Send one reply on WhatsApp whose last message has quick-reply buttons.

    `sealed` (bot/infra/sealing.py `seal_text`) holds the number, the texts and the content:
    nothing readable in RQ's records. The job leaves Redis as soon as it ends (result_ttl=0).
    """
    intervals = list(defaults.WHATSAPP_TURN_RETRY_INTERVALS)
    return queue.enqueue_call(
        SEND_WHATSAPP_TURN_JOB,
        args=(sealed,),
        result_ttl=0,
        failure_ttl=defaults.WHATSAPP_TURN_FAILURE_TTL_SECONDS,
        description="send a WhatsApp reply with quick-reply buttons",
        retry=Retry(max=len(intervals), interval=intervals),
    )
