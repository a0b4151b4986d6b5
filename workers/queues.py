"""The queue, and how each kind of job is enqueued (retries, result lifetime)."""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import Queue, Retry

from bot import defaults


def get_queue(connection: Redis, name: str = defaults.QUEUE_NAME) -> Queue:
    """The project's queue on this connection."""
    return Queue(name, connection=connection)


def enqueue_store_response(queue: Queue, payload: dict[str, Any], *, pipeline: Pipeline | None):
    """Hand a completed response to the storage job, atomically with `pipeline` if given.

    result_ttl=0: the job, which carries the answers, leaves Redis as soon as it succeeded.
    """
    from workers.storage import store_response

    return queue.enqueue_call(
        store_response,
        args=(payload,),
        retry=Retry(
            max=len(defaults.STORE_RETRY_INTERVALS), interval=list(defaults.STORE_RETRY_INTERVALS)
        ),
        result_ttl=0,
        failure_ttl=365 * 24 * 3600,
        description="store a completed response",
        pipeline=pipeline,
    )


def enqueue_opt_out(queue: Queue, pseudonym: str, day: str, *, opted_out: bool, pipeline=None):
    """Record an opt-out (or opt-in) by pseudonym in the database."""
    from workers.storage import record_opt_in, record_opt_out

    func = record_opt_out if opted_out else record_opt_in
    return queue.enqueue_call(
        func,
        args=(pseudonym, day) if opted_out else (pseudonym,),
        retry=Retry(
            max=len(defaults.STORE_RETRY_INTERVALS), interval=list(defaults.STORE_RETRY_INTERVALS)
        ),
        result_ttl=0,
        description="record an opt-out change",
        pipeline=pipeline,
    )
