"""Storage: idempotent on the response id, and a database outage only delays it.

Completed responses wait, sealed, in the storage inbox and reach the database in batches
(tests/test_batches.py has the batch rules); the per-response job of earlier releases still
stores what such a release queued.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import replace

from rq.registry import FailedJobRegistry
from sqlmodel import Session, select

from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.models import Answer, Response
from bot.records import batches, inbox
from tests.test_webhook import responses, take_survey
from tests.utils import enqueue_legacy_store, inbox_records, no_jobs_left, run_jobs
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


def put(app, record, kind=inbox.RESPONSE):
    state = app.extensions["surveybot"]
    inbox.put(state.redis, state.settings.storage_public_key, kind, record)


def batch(app, **kwargs):
    state = app.extensions["surveybot"]
    return batches.store_batch(state.settings, state.redis, force=True, **kwargs)


def answer_rows(db):
    with Session(get_engine(db)) as session:
        return session.exec(select(Answer)).all()


def test_a_batch_writes_one_row_per_answer_and_a_duplicate_changes_nothing(app, db):
    data = payload()
    put(app, data)
    put(app, data)  # delivered twice (e.g. an old job moved to the inbox, and a batch)
    assert batch(app).responses == 1
    [stored] = responses(db)
    assert str(stored.id) == data["response_id"]
    assert stored.completed_on == dt.date(2026, 11, 22)
    assert 0 <= stored.record_key <= 255
    rows = answer_rows(db)
    assert sorted((r.question_id, r.option_id, r.skipped) for r in rows) == [
        ("afraid_to_seek_help", "yes", False),
        ("fear_reasons", "deportation", False),
        ("fear_reasons", "ice_collaboration", False),
        ("knows_deported", None, True),
        ("status", "lpr", False),
    ]
    assert all(isinstance(r.id, uuid.UUID) for r in rows)  # random ids, no serial

    put(app, data)  # once more, after it was stored
    assert batch(app).responses == 0
    assert responses(db) == [stored]
    assert sorted(r.id for r in answer_rows(db)) == sorted(r.id for r in rows)


def test_numbers_are_stored_as_numbers(app, db):
    put(app, payload(answers={"household_size": 4}))
    batch(app)
    [row] = answer_rows(db)
    assert (row.number, row.option_id) == (4, None)


def test_a_database_outage_delays_storage_and_loses_nothing(client, app, db, redis):
    state = app.extensions["surveybot"]
    take_survey(client)
    waiting = inbox.size(redis)
    assert waiting > 1 and state.queue.count == 0  # the response and its counters; no job

    # The database is down: the batch waits, every record stays in the inbox, no job is left
    # holding answers, and nothing says the batch ran.
    down = replace(state.settings, DATABASE_URL=UNREACHABLE_DB)
    result = batches.store_batch(down, redis, force=True)
    assert result.status == "database unavailable"
    assert inbox.size(redis) == waiting
    assert responses(db) == []
    assert redis.hgetall(keys.wave_stats("default")) == {}
    assert redis.get(keys.STORAGE_LAST_BATCH) is None
    no_jobs_left(redis)

    # The database is back: the next batch stores the response once, with its counters.
    result = batches.store_batch(state.settings, redis, force=True)
    assert (result.status, result.responses) == ("stored", 1)
    assert len(responses(db)) == 1
    assert inbox.size(redis) == 0
    stats = redis.hgetall(keys.wave_stats("default"))
    assert stats[b"completed"] == b"1" and stats[b"started"] == b"1"
    run_jobs(app)  # the refresh of the wave's aggregates it asked for
    no_jobs_left(redis)


def test_an_outage_logs_batch_figures_only(client, app, db, redis, caplog):
    caplog.set_level(logging.DEBUG)
    take_survey(client)
    settings = app.extensions["surveybot"].settings
    [record] = inbox_records(redis, settings, inbox.RESPONSE)
    down = replace(settings, DATABASE_URL=UNREACHABLE_DB)
    batches.store_batch(down, redis, force=True)
    batch(app)
    assert any("storage batch" in r.getMessage() for r in caplog.records)
    for r in caplog.records:
        blob = str(r.__dict__)
        assert record["response_id"] not in blob
        assert "ice_collaboration" not in blob and "2026-11" not in r.getMessage()


def test_a_storage_job_of_an_earlier_release_still_stores_once(app, db, redis):
    data = payload()
    assert store_response(data) == "stored"
    assert store_response(data) == "already stored"
    assert len(responses(db)) == 1
    assert len(answer_rows(db)) == 5


def test_an_old_storage_job_during_an_outage_moves_to_the_inbox(app, db, redis):
    state = app.extensions["surveybot"]
    data = payload()
    enqueue_legacy_store(state.queue, data)
    context.configure(replace(state.settings, DATABASE_URL=UNREACHABLE_DB))
    SimpleWorker([state.queue], connection=redis).work(burst=True, with_scheduler=False)
    # No retry and no failed job with the answers beside RQ's times: the answers are sealed.
    assert FailedJobRegistry(queue=state.queue).count == 0
    assert inbox.size(redis) == 1
    no_jobs_left(redis)
    context.configure(state.settings)
    batch(app)
    assert [str(r.id) for r in responses(db)] == [data["response_id"]]


def test_responses_an_earlier_release_parked_go_to_the_inbox(app, db, redis):
    redis.rpush(keys.PARKED_RESPONSES, json.dumps(payload()))
    assert requeue_failed_storage(redis) == 1
    assert redis.llen(keys.PARKED_RESPONSES) == 0
    assert inbox.size(redis) == 1
    batch(app)
    assert len(responses(db)) == 1


def test_stored_response_holds_a_date_not_a_time(app, db):
    columns = Response.__table__.columns
    assert str(columns["completed_on"].type) == "DATE"
    time_types = {"DATETIME", "TIMESTAMP", "TIME"}
    for table in (Response.__table__, Answer.__table__):
        assert not [c.name for c in table.columns if str(c.type).split("(")[0] in time_types]
