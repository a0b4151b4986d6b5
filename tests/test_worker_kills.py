"""A killed worker costs minutes, not a job: what it ran runs again on a survivor, its scheduler
moves to a survivor, a job it had only taken off the queue is run, and a killed work horse leaves
its worker's next jobs a working database.

Real processes: `surveybot worker` children (forking a work horse per job) in sessions of their
own, so a test can SIGKILL a worker's whole process group as a crash or the OOM killer would; a
redis-server of the test's own; PostgreSQL from TEST_DATABASE_URL where a job needs the database.
The intervals are shortened through the settings (WORKER_MAINTENANCE_SECONDS,
JOB_MONITORING_SECONDS); RQ's heartbeat allowance (60 s beyond the monitoring interval) is
RQ's own, so these tests take a minute or two each. They wait for outcomes under a generous
deadline and assert no duration (bench/worker_kill.py measures with production intervals).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Retry, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from sqlalchemy import text

from bot.cli.processes import WORKER_INTERVALS
from bot.infra.db import get_engine
from bot.infra.queues import get_queue
from tests.redis_server import redis_server

# Seconds: shortened intervals for these tests (production: bot/infra/defaults.py).
MAINTENANCE = 3
MONITORING = 3
# RQ's heartbeat allowance is monitoring + 60 s: a job's recovery takes longer than that.
DEADLINE = 240.0


def start_worker(redis_url: str, log: Path, database_url: str = "") -> subprocess.Popen:
    """`surveybot worker` in a session of its own (its scheduler process with it; RQ puts
    each work horse in a process group of its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "SURVEYBOT_"))}
    env.update(SURVEYBOT_ENV="test", REDIS_URL=redis_url, DATABASE_URL=database_url)
    env.update(WORKER_MAINTENANCE_SECONDS=str(MAINTENANCE), JOB_MONITORING_SECONDS=str(MONITORING))
    env["PSEUDONYM_KEY"] = "worker-kill-test-key-0123456789"
    paths = [str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    surveybot = Path(sys.executable).with_name("surveybot")
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(surveybot), "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_group(worker.pid)
            worker.wait()
    kill_group(worker.pid)  # a scheduler process left behind, if any


def wait_for(condition, what: str, logs: list[Path], deadline: float = DEADLINE):  # noqa: ANN001
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    text = "\n".join(f"--- {log.name}\n{log.read_text()[-4000:]}" for log in logs)
    pytest.fail(f"{what}: not within {deadline:.0f} s\n{text}")


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie no longer does)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def session_exists(database_url: str, backend: int) -> bool:
    with get_engine(database_url).connect() as db:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p")
        return bool(db.execute(query, {"p": backend}).scalar())


def status(redis: Redis, job_id: str) -> JobStatus | None:
    return Job.fetch(job_id, connection=redis).get_status()


def pids(redis: Redis, key: str) -> list[int]:
    return [int(p) for p in redis.lrange(f"{key}:pids", 0, -1)]


def scheduler_lock_holder(redis: Redis) -> str | None:
    holder = redis.get(f"rq:scheduler-lock:{get_queue(redis).name}")
    return holder.decode() if holder else None


def test_production_intervals_bring_a_killed_workers_job_back_within_two_minutes():
    # RQ considers a job abandoned once its heartbeat (monitoring + 60 s) lapses; a surviving
    # worker notices at its next maintenance, idle or busy, and takes over a dead scheduler
    # whose lock (61 s) has lapsed by then. A storage retry waits 10 s more.
    from bot.infra.defaults import STORE_RETRY_INTERVALS

    monitoring = WORKER_INTERVALS["job_monitoring_interval"]
    maintenance = WORKER_INTERVALS["maintenance_interval"]
    assert monitoring + 60 + maintenance + STORE_RETRY_INTERVALS[0] <= 120
    assert 1 + 60 <= monitoring + 60 + maintenance  # the scheduler is back before the retry


def test_a_killed_workers_job_and_scheduler_move_to_the_survivor(tmp_path):
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    key = f"runs:{uuid.uuid4().hex}"
    delayed_key = f"delayed:{uuid.uuid4().hex}"
    with redis_server(tmp_path) as server:
        redis = Redis.from_url(server.url)
        queue = get_queue(redis)
        a = start_worker(server.url, logs[0])
        b = None
        try:
            # A alone: it holds the scheduler and takes the job (which retries as the bot's
            # storage and refresh jobs do: after an interval, through the scheduler).
            wait_for(lambda: scheduler_lock_holder(redis), "A holds the scheduler", logs)
            job = queue.enqueue(
                "tests.jobs.counted_nap",
                key,
                600,
                retry=Retry(max=3, interval=2),
                result_ttl=600,
            )
            wait_for(lambda: pids(redis, key), "the job started on A", logs)
            b = start_worker(server.url, logs[1])
            wait_for(lambda: Worker.count(queue=queue) == 2, "B is up", logs)
            delayed = queue.enqueue_in(
                timedelta(seconds=5), "tests.jobs.counted_nap", delayed_key, 0, result_ttl=600
            )
            horse = pids(redis, key)[0]
            # A and its scheduler process; RQ put the work horse in a process group of its
            # own, so the kill misses it: it must die with its worker, not run on unwatched.
            kill_group(a.pid)
            a.wait()
            wait_for(lambda: not alive(horse), "A's work horse died with it", logs)

            wait_for(lambda: status(redis, job.id) == JobStatus.FINISHED, "the job ran again", logs)
            wait_for(
                lambda: status(redis, delayed.id) == JobStatus.FINISHED, "the delayed job ran", logs
            )
            assert b.poll() is None
            assert scheduler_lock_holder(redis) is not None  # B's scheduler took the lock
        finally:
            stop(a)
            if b is not None:
                stop(b)
        job = Job.fetch(job.id, connection=redis)
        # RQ's abandoned-job handling: one retry spent, the job run once more, not more.
        assert int(redis.get(key)) == 2
        assert job.retries_left == 2
        assert job.return_value() == 2
        assert len(set(pids(redis, key))) == 2  # the second run was another horse
        assert int(redis.get(delayed_key)) == 1


def test_a_live_long_job_is_not_taken_for_abandoned(tmp_path):
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    key = f"runs:{uuid.uuid4().hex}"
    # Longer than RQ's heartbeat allowance (monitoring + 60 s): only heartbeats keep it alive.
    seconds = MONITORING + 60 + 3 * MAINTENANCE
    with redis_server(tmp_path) as server:
        redis = Redis.from_url(server.url)
        queue = get_queue(redis)
        a = start_worker(server.url, logs[0])
        b = None
        try:
            job = queue.enqueue(
                "tests.jobs.counted_nap",
                key,
                seconds,
                retry=Retry(max=3),
                result_ttl=600,
                job_timeout=int(seconds) + 120,
            )
            wait_for(lambda: pids(redis, key), "the job started on A", logs)
            b = start_worker(server.url, logs[1])  # its maintenance runs every MAINTENANCE s
            wait_for(lambda: status(redis, job.id) == JobStatus.FINISHED, "the job ended", logs)
            assert "cleaning registries" in logs[1].read_text() + logs[0].read_text()
        finally:
            stop(a)
            if b is not None:
                stop(b)
        assert int(redis.get(key)) == 1
        assert Job.fetch(job.id, connection=redis).retries_left == 3
        assert FailedJobRegistry(queue=queue).get_job_ids() == []


def test_a_job_left_in_the_intermediate_queue_is_run(tmp_path):
    # RQ moves a job from the queue to an intermediate list as it dequeues it, then into the
    # started registry. A worker that dies (or loses Redis) in between leaves it there, never
    # started: it must run, whether or not it has retries (RQ would fail it).
    logs = [tmp_path / "a.log"]
    key = f"runs:{uuid.uuid4().hex}"
    with redis_server(tmp_path) as server:
        redis = Redis.from_url(server.url)
        queue = get_queue(redis)
        # And a worker killed while it cleaned the queue: RQ's lock lives 899 s, here 99 s old.
        redis.set(queue.registry_cleaning_key, 1, ex=800)
        job = queue.enqueue("tests.jobs.counted_nap", key, 0, result_ttl=600)
        assert redis.lmove(queue.key, queue.intermediate_queue_key) == job.id.encode()
        assert queue.count == 0
        worker = start_worker(server.url, logs[0])
        try:
            wait_for(lambda: status(redis, job.id) == JobStatus.FINISHED, "the job ran", logs)
        finally:
            stop(worker)
        assert int(redis.get(key)) == 1
        assert redis.llen(queue.intermediate_queue_key) == 0
        assert FailedJobRegistry(queue=queue).get_job_ids() == []


def test_the_next_jobs_after_a_horse_killed_mid_transaction_use_the_database(
    tmp_path, database_url
):
    if not database_url.startswith("postgres"):
        pytest.skip("holds a PostgreSQL transaction open (pg_sleep): TEST_DATABASE_URL")
    logs = [tmp_path / "worker.log"]
    key = f"held:{uuid.uuid4().hex}"
    with redis_server(tmp_path) as server:
        redis = Redis.from_url(server.url)
        queue = get_queue(redis)
        worker = start_worker(server.url, logs[0], database_url=database_url)
        try:
            first = queue.enqueue("tests.jobs.database_session_of_this_process", result_ttl=600)
            wait_for(lambda: status(redis, first.id) == JobStatus.FINISHED, "a first job", logs)
            held = queue.enqueue("tests.jobs.nap_in_a_transaction", key, 600, result_ttl=600)
            horse = wait_for(lambda: pids(redis, key), "the transaction is open", logs)[0]
            backend = int(redis.lindex(f"{key}:backends", 0))
            kill_group(horse)
            wait_for(lambda: status(redis, held.id) == JobStatus.FAILED, "the horse died", logs)
            # The server notices the client is gone mid-statement and ends its session: its
            # transaction holds no locks for the rest of the 600 s sleep.
            wait_for(lambda: not session_exists(database_url, backend), "its session ended", logs)
            after = [
                queue.enqueue("tests.jobs.database_session_of_this_process", result_ttl=600)
                for _ in range(6)
            ]
            for job in after:
                wait_for(
                    lambda job=job: status(redis, job.id) in (JobStatus.FINISHED, JobStatus.FAILED),
                    "a job after the kill",
                    logs,
                )
            assert worker.poll() is None
        finally:
            stop(worker)
        results = [Job.fetch(job.id, connection=redis) for job in after]
        assert [job.get_status() for job in results] == [JobStatus.FINISHED] * len(results)
        horses = {job.return_value()[0] for job in results}
        assert horse not in horses and len(horses) == len(results)  # a horse per job
        assert "INTRANS" not in logs[0].read_text()


def test_only_a_job_nobody_started_leaves_the_intermediate_queue_for_the_queue(redis):
    from rq.executions import Execution

    from workers.worker import ProjectSimpleWorker

    queue = get_queue(redis)
    workers = [ProjectSimpleWorker([queue], connection=redis, maintenance_interval=30)]
    workers.append(ProjectSimpleWorker([queue], connection=redis, maintenance_interval=30))
    never_started, running, being_started, fresh = (
        queue.enqueue("tests.jobs.where_am_i") for _ in range(4)
    )
    for job in (never_started, running, being_started, fresh):
        assert redis.lmove(queue.key, queue.intermediate_queue_key) == job.id.encode()
    intermediate = queue.intermediate_queue
    for job in (never_started, running, being_started):  # seen stuck 40 s ago by maintenance
        redis.set(intermediate.get_first_seen_key(job.id), time.time() - 40)
    redis.set(intermediate.get_first_seen_key(fresh.id), time.time() - 5)
    running.set_status(JobStatus.STARTED)  # its horse started it: RQ's abandoned-job handling
    with redis.pipeline() as pipeline:  # its worker registered it, its horse is starting
        Execution.create(being_started, 60, pipeline=pipeline)
        pipeline.execute()

    for worker in workers:  # two workers' maintenance at once queue it once
        worker._queue_stuck_jobs(queue)

    assert queue.get_job_ids() == [never_started.id]
    assert set(intermediate.get_job_ids()) == {running.id, being_started.id, fresh.id}
    assert never_started.get_status() == JobStatus.QUEUED
