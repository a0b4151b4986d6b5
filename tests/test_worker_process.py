"""The Procfile's worker as production runs it: `surveybot worker` in its own process, forking a
work horse per job, on the test database (PostgreSQL in CI).

A horse that reused a connection its worker had pooled shared one server session with every
later horse; on PostgreSQL psycopg's prepared statements then made every aggregate refresh after
the first fail (DuplicatePreparedStatement), and dashboards and emails stopped following answers.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sqlmodel import Session, func, select

from bot.infra.db import get_engine
from bot.infra.models import Response
from bot.infra.queues import STORE_BATCH_JOB, get_queue
from bot.records import inbox
from tests.factories import random_answers, response_payload
from tests.test_aggregation import profiles_from_raw_rows, stored_profiles
from tests.utils import enqueue_legacy_store
from workers.aggregation import refresh_aggregates

ROUNDS = 8  # psycopg prepares a statement on its 5th run in one session: several of each job


def run_worker(settings, *, timeout: float = 120) -> subprocess.CompletedProcess:
    """`surveybot worker --burst` in a child process, with only the environment it needs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "SURVEYBOT_"))}
    env.update(
        SURVEYBOT_ENV="test",
        REDIS_URL=settings.REDIS_URL,
        DATABASE_URL=settings.DATABASE_URL,
        SECRET_KEY=settings.SECRET_KEY,
        PSEUDONYM_KEY=settings.PSEUDONYM_KEY,
        TWILIO_AUTH_TOKEN=settings.TWILIO_AUTH_TOKEN,
    )
    # tests.jobs, after whatever PYTHONPATH the run has (scripts/clockshift moves the calendar)
    paths = [str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    surveybot = Path(sys.executable).with_name("surveybot")
    return subprocess.run(
        [str(surveybot), "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=settings.INSTANCE_PATH if Path(settings.INSTANCE_PATH).is_dir() else None,
    )


def test_a_forking_worker_runs_storage_and_refreshes_in_a_row(app, db, redis):
    state = app.extensions["surveybot"]
    q = state.questionnaire
    queue = get_queue(redis)
    rng = random.Random(1)
    refreshes = []
    for round_ in range(ROUNDS):
        payload = response_payload(q, random_answers(q, rng))
        if round_ % 2:  # a storage job queued by the release before the inbox
            enqueue_legacy_store(queue, payload)
        else:
            inbox.put(redis, state.settings.storage_public_key, inbox.RESPONSE, payload)
        queue.enqueue(STORE_BATCH_JOB, force=True, result_ttl=0)
        refreshes.append(queue.enqueue(refresh_aggregates, "default"))

    result = run_worker(state.settings)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "DuplicatePreparedStatement" not in result.stderr
    assert FailedJobRegistry(queue=queue).get_job_ids() == []
    finished = set(FinishedJobRegistry(queue=queue).get_job_ids())
    assert {job.id for job in refreshes} <= finished  # storage keeps no result (result_ttl=0)
    refreshed = [job.latest_result().return_value for job in refreshes]
    assert all(isinstance(count, int) for count in refreshed), refreshed
    with Session(get_engine(db)) as session:
        assert session.exec(select(func.count()).select_from(Response)).one() == ROUNDS
    # The last refresh ran after the last response was stored: the aggregates say all of them.
    assert stored_profiles(app, db) == profiles_from_raw_rows(app, db)
    assert sum(item[3] for item in stored_profiles(app, db)) == ROUNDS


def test_each_work_horse_has_its_own_database_session(app, db, redis):
    from tests.jobs import database_session_of_this_process

    if not db.startswith("postgresql"):
        pytest.skip("server sessions are a PostgreSQL notion")
    queue = get_queue(redis)
    jobs = [queue.enqueue(database_session_of_this_process) for _ in range(4)]
    result = run_worker(app.extensions["surveybot"].settings)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = [tuple(job.latest_result().return_value) for job in jobs]
    assert len({pid for pid, _ in seen}) == 4  # a work horse per job
    assert len({backend for _, backend in seen}) == 4, seen  # and a server session per horse
