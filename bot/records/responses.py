"""Storing completed responses and opt-outs: rows of the database.

Responses arrive in shuffled batches from the storage inbox (bot/records/batches.py). Each write
is idempotent: a response is keyed by its random id, and a second write of the same id (a batch
re-run after a crash between its commit and the inbox clean-up) changes nothing.

`store_response` is the storage job of releases before the inbox: a job such a release queued
still stores its response, or, if the database is down, hands it to the inbox instead of
retrying with the answers in RQ's job hash beside exact times.
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
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from bot.infra import defaults, keys
from bot.infra.db import session_scope
from bot.infra.exceptions import StorageError
from bot.infra.models import Answer, OptOut, Response
from bot.infra.queues import STORAGE_JOBS, get_queue
from bot.infra.weeks import iso_week
from bot.records import inbox
from bot.releases import cellkey
from bot.releases.aggregates import request_refresh
from bot.releases.profile_keys import choices_key, multi_key

log = logging.getLogger(__name__)


def answer_values(response_id: uuid.UUID, answers: dict[str, Any]) -> list[dict[str, Any]]:
    """Answer rows for one response, as column values: one per chosen option, number or skip,
    each with a random id."""
    rows: list[dict[str, Any]] = []

    def add(question_id: str, *, option_id=None, number=None, skipped=False) -> None:  # noqa: ANN001
        rows.append(
            {
                "id": uuid.uuid4(),
                "response_id": response_id,
                "question_id": question_id,
                "option_id": option_id,
                "number": number,
                "skipped": skipped,
            }
        )

    for question_id, value in answers.items():
        if value is None:
            add(question_id, skipped=True)
        elif isinstance(value, list):
            for v in value:
                add(question_id, option_id=str(v))
        elif isinstance(value, bool) or not isinstance(value, int):
            add(question_id, option_id=str(value))
        else:
            add(question_id, number=value)
    return rows


def answer_rows(response_id: uuid.UUID, answers: dict[str, Any]) -> list[Answer]:
    """Answer rows for one response: one per chosen option, number or skip."""
    return [Answer(**values) for values in answer_values(response_id, answers)]


def response_values(payload: dict[str, Any]) -> dict[str, Any]:
    """The anonymized row of one completed response, as column values (its answers go in
    `answer_values`), with a fresh random record key."""
    completed_on = dt.date.fromisoformat(payload["completed_on"])
    return {
        "id": uuid.UUID(payload["response_id"]),
        "survey": payload["survey"],
        "survey_version": payload["survey_version"],
        "wave": payload["wave"],
        "language": payload["language"],
        "completed_on": completed_on,
        "completed_week": iso_week(completed_on),
        "choices_key": choices_key(payload["answers"]),
        "multi_key": multi_key(payload["answers"]),
        "record_key": cellkey.new_record_key(),
    }


def response_row(payload: dict[str, Any]) -> Response:
    """The anonymized row of one completed response (its answers go in `answer_rows`)."""
    return Response(**response_values(payload))


def _insert_new(session: Session, table, rows: list[dict[str, Any]]) -> list[uuid.UUID]:  # noqa: ANN001
    """INSERT ... ON CONFLICT (id) DO NOTHING, in the order given; the ids inserted."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=["id"])
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=["id"])
    else:  # another database: without ON CONFLICT, a duplicate fails the transaction
        statement = insert(table)
    return list(session.execute(statement.returning(table.c.id), rows).scalars())


def write_responses(session: Session, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write the responses not stored yet, in the order given, with their answers (in the
    caller's transaction, not committed); returns the payloads that were new."""
    by_id = {uuid.UUID(p["response_id"]): p for p in payloads}
    rows = [response_values(p) for p in by_id.values()]
    new = set(_insert_new(session, Response.__table__, rows))
    fresh = [p for rid, p in by_id.items() if rid in new]
    answers = [
        row for p in fresh for row in answer_values(uuid.UUID(p["response_id"]), p["answers"])
    ]
    _insert_new(session, Answer.__table__, answers)
    return fresh


def store_response(
    database_url: str, redis: Redis, payload: dict[str, Any], *, public_key: str = ""
) -> str:
    """The storage job of earlier releases: write one response, then ask for its wave's
    aggregates to be refreshed; a second run with the same id changes nothing. If the database
    fails, the response goes to the storage inbox, sealed to `public_key`, for the next batch."""
    try:
        with session_scope(database_url) as session:
            stored = write_responses(session, [payload])
    except SQLAlchemyError:
        if not public_key:
            raise
        inbox.put(redis, public_key, inbox.RESPONSE, payload)
        log.warning("database unavailable: a queued response moved to the storage inbox")
        return "moved to the storage inbox"
    request_refresh(redis, get_queue(redis), payload["wave"])
    return "stored" if stored else "already stored"


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


def requeue_failed_storage(
    connection: Redis | None = None, queue_name: str | None = None, *, public_key: str = ""
) -> int:
    """Put failed opt-out jobs (and storage jobs of earlier releases) back on the queue, and
    move responses an earlier release parked during an outage into the storage inbox (cron,
    hourly); how many."""
    if connection is None:
        current = get_current_job()
        assert current is not None, "pass a connection when not running as a job"
        connection = current.connection
    queue = Queue(queue_name or defaults.QUEUE_NAME, connection=connection)
    requeued = 0
    # Sealed into the inbox before removal: a crash in between stores the response twice,
    # which the batch's idempotence (same response id) turns into once.
    while public_key and (raw := connection.lindex(keys.PARKED_RESPONSES, 0)) is not None:
        inbox.put(connection, public_key, inbox.RESPONSE, json.loads(raw))
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
