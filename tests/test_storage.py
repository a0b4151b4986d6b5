"""Storage jobs: idempotent on the response id, and a database outage only delays them."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace

from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlmodel import Session, select

from bot.infra.db import get_engine
from bot.infra.models import Answer, Response
from bot.infra.queues import enqueue_store_response, get_queue
from tests.test_webhook import responses, take_survey
from workers import context
from workers.storage import requeue_failed_storage, store_response
from workers.worker import ProjectSimpleWorker as SimpleWorker

UNREACHABLE_DB = "postgresql://nobody@127.0.0.1:1/nowhere"


def payload(**changes):
    data = {
        "response_id": str(uuid.uuid4()),
        "survey": "community_safety",
        "survey_version": "2026.1",
        "wave": "default",
        "language": "ht",
        "completed_on": "2026-11-22",
        "answers": {
            "status": "lpr",
            "afraid_to_seek_help": "yes",
            "fear_reasons": ["ice_collaboration", "deportation"],
            "knows_deported": None,
        },
    }
    data.update(changes)
    return data


def test_store_writes_one_row_per_answer_and_a_second_run_changes_nothing(app, db):
    data = payload()
    assert store_response(data) == "stored"
    assert store_response(data) == "already stored"
    [stored] = responses(db)
    assert str(stored.id) == data["response_id"]
    assert stored.completed_on == dt.date(2026, 11, 22)
    with Session(get_engine(db)) as session:
        rows = session.exec(select(Answer)).all()
    assert sorted((r.question_id, r.option_id, r.skipped) for r in rows) == [
        ("afraid_to_seek_help", "yes", False),
        ("fear_reasons", "deportation", False),
        ("fear_reasons", "ice_collaboration", False),
        ("knows_deported", None, True),
        ("status", "lpr", False),
    ]


def test_numbers_are_stored_as_numbers(app, db):
    store_response(payload(answers={"household_size": 4}))
    with Session(get_engine(db)) as session:
        [row] = session.exec(select(Answer)).all()
    assert (row.number, row.option_id) == (4, None)


def _worker(app):
    app_state = app.extensions["surveybot"]
    return SimpleWorker([get_queue(app_state.redis)], connection=app_state.redis)


def test_a_database_outage_delays_storage_and_loses_nothing(client, app, db):
    app_state = app.extensions["surveybot"]
    take_survey(client)
    queue = app_state.queue
    assert queue.count == 1

    # The database goes down: the job fails and is scheduled for a retry, answers kept.
    context.configure(replace(app_state.settings, DATABASE_URL=UNREACHABLE_DB))
    _worker(app).work(burst=True, with_scheduler=False)
    scheduled = ScheduledJobRegistry(queue=queue)
    [job_id] = scheduled.get_job_ids()
    job = queue.fetch_job(job_id)
    assert job.retries_left == len(job.retry_intervals) - 1
    assert responses(db) == []

    # The database is back and the retry is due: the response is stored exactly once.
    context.configure(app_state.settings)
    scheduled.remove(job)
    queue.enqueue_job(job)
    _worker(app).work(burst=True, with_scheduler=False)
    assert len(responses(db)) == 1
    assert queue.count == 0
    # What is left scheduled is the (debounced) refresh of the wave's aggregates.
    left = [queue.fetch_job(j).func_name for j in scheduled.get_job_ids()]
    assert left == ["workers.aggregation.refresh_aggregates"]


def test_responses_that_ran_out_of_retries_are_parked_then_stored_by_cron(app, db, redis):
    from bot.infra import keys

    app_state = app.extensions["surveybot"]
    queue = app_state.queue
    job = enqueue_store_response(queue, payload(), pipeline=None)
    job.retries_left = 0
    job.save()
    context.configure(replace(app_state.settings, DATABASE_URL=UNREACHABLE_DB))
    _worker(app).work(burst=True, with_scheduler=False)
    # Not in RQ's failed registry (with the job's exact times) but parked as the bare payload.
    assert FailedJobRegistry(queue=queue).count == 0
    assert queue.fetch_job(job.id) is None
    [parked] = redis.lrange(keys.PARKED_RESPONSES, 0, -1)
    assert b"2026-11-22" in parked and b"enqueued_at" not in parked
    assert responses(db) == []

    context.configure(app_state.settings)
    assert requeue_failed_storage(app_state.redis) == 1
    assert redis.llen(keys.PARKED_RESPONSES) == 0
    _worker(app).work(burst=True, with_scheduler=False)
    assert len(responses(db)) == 1


def test_stored_response_holds_a_date_not_a_time(app, db):
    store_response(payload())
    columns = Response.__table__.columns
    assert str(columns["completed_on"].type) == "DATE"
    time_types = {"DATETIME", "TIMESTAMP", "TIME"}
    for table in (Response.__table__, Answer.__table__):
        assert not [c.name for c in table.columns if str(c.type).split("(")[0] in time_types]


def test_a_failing_storage_job_logs_no_answer(client, app, db, caplog):
    """RQ attaches a failing job's arguments to its error log record; the project's workers
    do not, so an outage leaves no answers in the logs."""
    import logging

    caplog.set_level(logging.DEBUG)
    app_state = app.extensions["surveybot"]
    job = enqueue_store_response(app_state.queue, payload(), pipeline=None)
    context.configure(replace(app_state.settings, DATABASE_URL=UNREACHABLE_DB))
    _worker(app).work(burst=True, with_scheduler=False)
    context.configure(app_state.settings)
    failures = [r for r in caplog.records if "exception raised" in r.getMessage()]
    assert failures, "the scan must see the failure's log record"
    for record in caplog.records:
        blob = str(record.__dict__)
        assert job.args[0]["response_id"] not in blob
        assert "ice_collaboration" not in blob
