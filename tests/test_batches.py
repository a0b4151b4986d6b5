"""Storage batches: when they close, one transaction each, rows in shuffled order, counters
applied once, and nothing per response left in Redis."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from bot.infra import keys
from bot.infra.db import get_engine
from bot.records import batches, inbox, responses
from tests.test_storage import payload
from tests.test_webhook import responses as responses_in
from tests.test_webhook import take_survey
from tests.utils import no_jobs_left


class RecordingShuffle(random.Random):
    """A seeded shuffle that remembers the order it produced."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.orders: list[list] = []

    def shuffle(self, x) -> None:  # noqa: ANN001
        super().shuffle(x)
        self.orders.append(list(x))


def put_responses(app, count):
    state = app.extensions["surveybot"]
    made = [payload() for _ in range(count)]
    for data in made:  # in completion order
        inbox.put(state.redis, state.settings.storage_public_key, inbox.RESPONSE, data)
    return made


def settings_of(app, **changes):
    return replace(app.extensions["surveybot"].settings, **changes)


def commits_during(db, action):
    engine = get_engine(db)
    seen = []

    def on_commit(_connection):  # noqa: ANN001
        seen.append(1)

    event.listen(engine, "commit", on_commit)
    try:
        result = action()
    finally:
        event.remove(engine, "commit", on_commit)
    return len(seen), result


def counters(redis, name: str) -> dict[bytes, bytes]:  # noqa: ANN001
    """A counter hash without the key sums kept beside each counter (field#key, the sum of
    its records' random keys mod nothing: 0..255 per record), checked to be there."""
    values = redis.hgetall(name)
    for field, value in values.items():
        if not field.endswith(b"#key"):
            assert 0 <= int(values[field + b"#key"]) <= 255 * int(value)
    return {k: v for k, v in values.items() if not k.endswith(b"#key")}


def test_a_batch_closes_at_k_records_and_t_hours_whichever_is_later(app, db, redis, clock):
    settings = settings_of(app, BATCH_MIN_SIZE=3, BATCH_MIN_HOURS=6.0)
    put_responses(app, 2)
    assert batches.store_batch(settings, redis).status == "waiting"  # 2 < K
    put_responses(app, 1)
    first = batches.store_batch(settings, redis)
    assert (first.status, first.responses) == ("stored", 3)  # K, and no batch before
    assert int(redis.get(keys.STORAGE_LAST_BATCH)) == int(clock.moment.timestamp())

    put_responses(app, 5)
    clock.set(clock.moment + dt.timedelta(hours=5, minutes=59))
    assert batches.store_batch(settings, redis).status == "waiting"  # K reached, T not
    clock.set(clock.moment + dt.timedelta(minutes=1))
    assert batches.store_batch(settings, redis).responses == 5  # both

    put_responses(app, 1)
    clock.set(clock.moment + dt.timedelta(hours=30))
    assert batches.store_batch(settings, redis).status == "waiting"  # T long past, K not
    assert batches.store_batch(settings, redis, force=True).responses == 1
    assert batches.store_batch(settings, redis, force=True).status == "empty"


def test_defaults_wait_in_production_and_not_in_development(app):
    from bot.infra.config import Environment

    production = settings_of(app, SURVEYBOT_ENV=Environment.PRODUCTION)
    assert (production.batch_min_size, production.batch_min_hours) == (20, 6.0)
    development = settings_of(app, SURVEYBOT_ENV=Environment.DEVELOPMENT)
    assert (development.batch_min_size, development.batch_min_hours) == (1, 0.0)


def test_a_batch_is_one_transaction(app, db, redis):
    put_responses(app, 30)
    commits, result = commits_during(db, lambda: batches.store_batch(settings_of(app), redis))
    assert (commits, result.responses) == (1, 30)
    if get_engine(db).dialect.name == "postgresql":
        # Every row of both tables was written by one transaction: one commit time in the WAL.
        with get_engine(db).connect() as connection:
            xids = connection.execute(
                text(
                    "SELECT count(DISTINCT x) FROM (SELECT xmin::text AS x FROM response"
                    " UNION ALL SELECT xmin::text FROM answer) rows"
                )
            ).scalar()
        assert xids == 1


def test_a_large_inbox_is_split_into_even_transactions(app, db, redis):
    put_responses(app, 30)
    commits, result = commits_during(
        db, lambda: batches.store_batch(settings_of(app), redis, limit=7)
    )
    assert (commits, result.responses, inbox.size(redis)) == (5, 30, 0)  # 5 of 6, not 7+7+...+2


def test_a_failure_mid_batch_writes_nothing_and_keeps_every_record(app, db, redis, monkeypatch):
    put_responses(app, 10)
    inbox.put_count(redis, settings_of(app).storage_public_key, "default", "completed:en")
    original = responses._insert_new

    def fail_on_answers(session, table, rows):  # noqa: ANN001
        if table.name == "answer":  # the responses are already in the transaction
            raise OperationalError("INSERT INTO answer", {}, ConnectionError("server gone"))
        return original(session, table, rows)

    monkeypatch.setattr(responses, "_insert_new", fail_on_answers)
    result = batches.store_batch(settings_of(app), redis)
    assert result.status == "database unavailable"
    with get_engine(db).connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM response")).scalar() == 0
    assert inbox.size(redis) == 11
    assert redis.hgetall(keys.wave_stats("default")) == {}
    monkeypatch.undo()
    assert batches.store_batch(settings_of(app), redis).responses == 10
    assert counters(redis, keys.wave_stats("default")) == {b"completed:en": b"1"}


def test_rows_are_in_the_shuffled_order_not_the_completion_order(app, db, redis):
    engine = get_engine(db)
    postgres = engine.dialect.name == "postgresql"
    if postgres:  # a fresh heap: rows go where they are written, in order
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE response, answer"))
    completed = [uuid.UUID(p["response_id"]) for p in put_responses(app, 30)]
    shuffle = RecordingShuffle(2026)
    batches.store_batch(settings_of(app), redis, rng=shuffle)
    [shuffled] = shuffle.orders
    expected = [uuid.UUID(record["response_id"]) for _, record in shuffled]
    with engine.connect() as connection:
        order = "ctid" if postgres else "rowid"
        stored = connection.execute(text(f"SELECT id FROM response ORDER BY {order}")).scalars()
        physical = [uuid.UUID(str(value)) for value in stored]
    assert physical == expected
    assert physical != completed and sorted(physical) == sorted(completed)


def test_the_default_shuffle_is_the_systems_csprng(app, db, redis, monkeypatch):
    used = []
    original = batches.secrets.SystemRandom

    def spy():
        used.append(1)
        return original()

    monkeypatch.setattr(batches.secrets, "SystemRandom", spy)
    put_responses(app, 2)
    batches.store_batch(settings_of(app), redis)
    assert used == [1]


def test_overlapping_runs_count_each_record_once(app, db, redis):
    settings = settings_of(app)
    inbox.put_count(redis, settings.storage_public_key, "default", "started")
    inbox.put_count(redis, settings.storage_public_key, "default", "asked:status")
    put_responses(app, 2)
    sealed = inbox.take(redis, 10)
    result = batches.BatchResult("stored")
    for _ in range(2):  # two workers took the same records
        batches._store_part(
            settings.DATABASE_URL,
            redis,
            settings.storage_secret_key,
            sealed,
            random.Random(1),
            result,
        )
    assert counters(redis, keys.wave_stats("default")) == {b"started": b"1"}
    assert counters(redis, keys.asked_stats("default")) == {b"status": b"1"}
    assert result.responses == 2 and inbox.size(redis) == 0


def test_counters_move_only_when_a_batch_lands(client, app, db, redis):
    take_survey(client)
    assert not redis.exists(keys.wave_stats("default"), keys.asked_stats("default"))
    assert app.extensions["surveybot"].queue.count == 0
    assert not redis.keys("rq:job:*")  # no job per response
    batches.store_batch(settings_of(app), redis)
    stats = redis.hgetall(keys.wave_stats("default"))
    assert stats[b"started"] == b"1" and stats[b"completed"] == b"1"
    assert stats[b"started:en"] == b"1" and stats[b"started:2026-W47"] == b"1"
    asked = redis.hgetall(keys.asked_stats("default"))
    assert asked[b"status"] == b"1"
    assert not redis.exists(keys.STORAGE_INBOX)


@pytest.mark.parametrize("records", [0, 3])
def test_the_cron_job_stores_when_due_and_keeps_no_result(app, db, redis, records):
    from rq import Queue

    from bot.infra.queues import STORE_BATCH_JOB
    from tests.utils import run_queued
    from workers.worker import ProjectSimpleWorker

    put_responses(app, records)
    queue = Queue("surveybot", connection=redis)
    queue.enqueue(STORE_BATCH_JOB, result_ttl=0)
    ProjectSimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)
    assert inbox.size(redis) == 0
    assert len(responses_in(db)) == records
    run_queued(redis, app.extensions["surveybot"].settings)  # the aggregate refresh it asked for
    no_jobs_left(redis)
