"""Storing completed responses and opt-outs: from Redis to the database.

Each store is idempotent: a response is keyed by its random id, so a retried or duplicated job
changes nothing the second time. A database outage raises, and RQ retries with backoff; the
last attempt parks the bare payload (no job times beside the answers) until
`requeue_failed_storage` (cron) puts it back, so an outage only delays storage. The project's
workers (workers/worker.py) never log a failing job's arguments.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

from redis import Redis
from rq import Queue, get_current_job
from rq.registry import FailedJobRegistry
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session, select

from bot.infra import defaults, keys
from bot.infra.db import session_scope
from bot.infra.exceptions import StorageError
from bot.infra.models import Answer, OptOut, Response
from bot.infra.queues import STORAGE_JOBS, enqueue_store_response, get_queue
from bot.infra.weeks import iso_week
from bot.releases.aggregates import request_refresh
from bot.releases.profile_keys import choices_key, multi_key

log = logging.getLogger(__name__)


def answer_rows(response_id: uuid.UUID, answers: dict[str, Any]) -> list[Answer]:
    """Answer rows for one response: one per chosen option, number or skip."""
    rows: list[Answer] = []
    for question_id, value in answers.items():
        if value is None:
            rows.append(Answer(response_id=response_id, question_id=question_id, skipped=True))
        elif isinstance(value, list):
            rows.extend(
                Answer(response_id=response_id, question_id=question_id, option_id=str(v))
                for v in value
            )
        elif isinstance(value, bool) or not isinstance(value, int):
            rows.append(
                Answer(response_id=response_id, question_id=question_id, option_id=str(value))
            )
        else:
            rows.append(Answer(response_id=response_id, question_id=question_id, number=value))
    return rows


def response_row(payload: dict[str, Any]) -> Response:
    """The anonymized row of one completed response (its answers go in `answer_rows`)."""
    completed_on = dt.date.fromisoformat(payload["completed_on"])
    return Response(
        id=uuid.UUID(payload["response_id"]),
        survey=payload["survey"],
        survey_version=payload["survey_version"],
        wave=payload["wave"],
        language=payload["language"],
        completed_on=completed_on,
        completed_week=iso_week(completed_on),
        choices_key=choices_key(payload["answers"]),
        multi_key=multi_key(payload["answers"]),
    )


def write_responses(session: Session, payloads: list[dict[str, Any]]) -> int:
    """Add the responses not stored yet to the session (flushed, not committed); returns how
    many were new. A response id already stored is left as it is."""
    ids = [uuid.UUID(p["response_id"]) for p in payloads]
    stored = set(session.exec(select(Response.id).where(Response.id.in_(ids))))
    new = [p for p in payloads if uuid.UUID(p["response_id"]) not in stored]
    session.add_all([response_row(p) for p in new])
    session.flush()  # the answers refer to their responses
    session.add_all(
        [row for p in new for row in answer_rows(uuid.UUID(p["response_id"]), p["answers"])]
    )
    session.flush()
    return len(new)


def store_response(database_url: str, redis: Redis, payload: dict[str, Any]) -> str:
    """Write one completed response, then ask for its wave's aggregates to be refreshed
    (through `redis`); a second run with the same id changes nothing."""
    try:
        with session_scope(database_url) as session:
            if not write_responses(session, [payload]):
                # A retry after the commit: the refresh request may be what failed.
                request_refresh(redis, get_queue(redis), payload["wave"])
                return "already stored"
    except IntegrityError:
        return "already stored"  # the same job ran at the same moment elsewhere
    except SQLAlchemyError as exc:
        # An outage, or any other database failure: never leave the answers in RQ's failed
        # registry beside the job's exact times; the last attempt parks them for cron.
        if _park(payload):
            log.warning("database unavailable and out of retries: response parked for cron")
            return "parked"
        log.warning("database unavailable, response storage will be retried")
        raise StorageError(f"database error ({type(exc).__name__})") from exc
    request_refresh(redis, get_queue(redis), payload["wave"])
    return "stored"


def _park(payload: dict[str, Any]) -> bool:
    """On the last attempt, keep the payload in a plain list instead of RQ's failed registry,
    where it would sit next to the job's exact timestamps; True if it was parked."""
    job = get_current_job()
    if job is None or job.retries_left:
        return False
    job.connection.rpush(keys.PARKED_RESPONSES, json.dumps(payload))
    return True


def record_opt_out(database_url: str, pseudonym: str, day: str) -> str:
    """Remember an opt-out by pseudonym (idempotent)."""
    try:
        with session_scope(database_url) as session:
            if session.get(OptOut, pseudonym) is None:
                session.add(OptOut(pseudonym=pseudonym, since=dt.date.fromisoformat(day)))
    except IntegrityError:
        pass
    except OperationalError as exc:
        raise StorageError("database unavailable") from exc
    return "recorded"


def record_opt_in(database_url: str, pseudonym: str) -> str:
    """Forget an opt-out after START (idempotent)."""
    try:
        with session_scope(database_url) as session:
            row = session.get(OptOut, pseudonym)
            if row is not None:
                session.delete(row)
    except OperationalError as exc:
        raise StorageError("database unavailable") from exc
    return "recorded"


def requeue_failed_storage(connection: Redis | None = None, queue_name: str | None = None) -> int:
    """Put parked responses and failed storage jobs back on the queue (run hourly by cron)."""
    if connection is None:
        current = get_current_job()
        assert current is not None, "pass a connection when not running as a job"
        connection = current.connection
    queue = Queue(queue_name or defaults.QUEUE_NAME, connection=connection)
    requeued = 0
    # Enqueue before removing: a crash in between stores the response twice, which the
    # storage job's idempotence (same response id) turns into once.
    while (raw := connection.lindex(keys.PARKED_RESPONSES, 0)) is not None:
        enqueue_store_response(queue, json.loads(raw), pipeline=None)
        connection.lpop(keys.PARKED_RESPONSES)
        requeued += 1
    registry = FailedJobRegistry(queue=queue)
    for job_id in registry.get_job_ids():
        job = queue.fetch_job(job_id)
        if job is not None and job.func_name in STORAGE_JOBS:
            registry.requeue(job_id)
            requeued += 1
    if requeued:
        log.info("requeued %d storage jobs", requeued)
    return requeued
