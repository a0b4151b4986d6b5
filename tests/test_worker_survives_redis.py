"""`surveybot worker` rides out a Redis restart: RQ's worker returns when Redis goes away, and
the command starts a new one instead of exiting with nothing left to run the jobs.

Real processes: a redis-server of the test's own (with its append-only file, as production),
SIGKILLed and started again on the same port and folder, and the worker command in a child
process. The test waits for outcomes with a generous deadline; it asserts no duration.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis
from rq.job import Job, JobStatus

from bot.cli.processes import WORKER_INTERVALS
from bot.infra.defaults import BATCH_CHECK_EVERY_SECONDS
from bot.infra.queues import get_queue
from tests.redis_server import RedisServer

DEADLINE = 90.0


def start_worker(redis_url: str, log: Path, command: str = "worker") -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "SURVEYBOT_"))}
    env.update(SURVEYBOT_ENV="test", REDIS_URL=redis_url, DATABASE_URL="")
    env["PSEUDONYM_KEY"] = "worker-restart-test-key-0123456789"
    paths = [str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    surveybot = Path(sys.executable).with_name("surveybot")
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [str(surveybot), command], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def finished(redis: Redis, job_id: str) -> bool:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            if Job.fetch(job_id, connection=redis).get_status() == JobStatus.FINISHED:
                return True
        except Exception:  # noqa: BLE001 - Redis coming back, or the job not there yet
            pass
        time.sleep(0.2)
    return False


def test_the_worker_command_carries_on_after_redis_restarts(tmp_path):
    server = RedisServer(tmp_path, persistent=True)
    worker = start_worker(server.url, tmp_path / "worker.log")
    try:
        redis = Redis.from_url(server.url)
        job = get_queue(redis).enqueue("tests.jobs.where_am_i", result_ttl=600)
        assert finished(redis, job.id), (tmp_path / "worker.log").read_text()

        server.process.send_signal(signal.SIGKILL)  # Redis dies, as a crash would
        server.process.wait()
        time.sleep(2)  # the worker meets the dead connection and RQ's worker returns
        server.restart()  # same port, same folder: back from its append-only file
        redis = Redis.from_url(server.url)
        assert worker.poll() is None, "the worker command exited with Redis"
        job = get_queue(redis).enqueue("tests.jobs.where_am_i", result_ttl=600)
        assert finished(redis, job.id), (tmp_path / "worker.log").read_text()
        assert worker.poll() is None
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        server.stop()
    assert worker.returncode == 0  # SIGTERM still stops it cleanly


def test_a_killed_workers_job_runs_again_within_two_minutes():
    # RQ considers a job abandoned once its heartbeat (monitoring interval + 60 s) lapses, and
    # a worker notices at its next maintenance: the worst case is their sum.
    worst = (
        WORKER_INTERVALS["job_monitoring_interval"] + 60 + WORKER_INTERVALS["maintenance_interval"]
    )
    assert worst <= 120


def queued_batch_check(redis: Redis) -> bool:
    """Whether cron has queued its storage-batch check (nobody runs it in this test)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            if any(
                job.func_name == "workers.storage.store_batch"
                for job in get_queue(redis).get_jobs()
            ):
                return True
        except Exception:  # noqa: BLE001 - Redis coming back
            pass
        time.sleep(0.2)
    return False


def test_cron_carries_on_after_redis_restarts(tmp_path):
    server = RedisServer(tmp_path, persistent=True)
    cron = start_worker(server.url, tmp_path / "cron.log", command="cron")
    try:
        redis = Redis.from_url(server.url)
        assert queued_batch_check(redis), (tmp_path / "cron.log").read_text()
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        # Down longer than cron ever sleeps (its batch check runs every 30 s), so it meets the
        # dead Redis instead of sleeping through the outage.
        time.sleep(BATCH_CHECK_EVERY_SECONDS + 2)
        server.restart()
        redis = Redis.from_url(server.url)
        redis.flushall()  # what cron queued before is gone: only what it queues now counts
        assert cron.poll() is None, "cron exited with Redis"
        assert queued_batch_check(redis), (tmp_path / "cron.log").read_text()
        assert cron.poll() is None
        assert "cron lost Redis" in (tmp_path / "cron.log").read_text()
    finally:
        cron.terminate()
        cron.wait(timeout=30)
        server.stop()
    assert cron.returncode == 0


def test_the_cron_loop_starts_the_same_scheduler_again_after_a_redis_error(monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from bot.cli import processes

    class Scheduler:
        starts = 0

        def start(self):
            self.starts += 1
            if self.starts < 3:
                raise RedisConnectionError("Redis went away")

    pauses: list[float] = []
    monkeypatch.setattr("time.sleep", pauses.append)
    scheduler = Scheduler()
    assert processes.run_cron_until_stopped(scheduler) == 3
    assert scheduler.starts == 3 and pauses == [1.0, 2.0]
