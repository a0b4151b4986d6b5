"""How long a dead worker's work waits: two `surveybot worker` processes (forking, the
production intervals unless told otherwise) on a redis-server of the bench's own.

Scenarios, each timed from the fault to the outcome:
- killed mid-job: worker A, holding RQ's scheduler, runs a job that retries as the storage
  jobs do (STORE_RETRY_INTERVALS); A's process group is SIGKILLed; time until the job ran
  again to completion on B, and until a job delayed 5 s (`enqueue_in`) ran (B took the
  scheduler over); and how many times each ran.
- stuck in the intermediate queue: a job left between the queue and the started registry, as
  by a worker that died as it took it; time until a freshly started worker ran it.

    .venv/bin/python -m bench.worker_kill [--maintenance 30 --monitoring 15]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from redis import Redis
from rq import Retry, Worker
from rq.job import Job, JobStatus

from bench.services import environment_without_settings, start_redis, stop_process, tail
from bot.infra import defaults
from bot.infra.queues import get_queue

REPO_ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 900.0
JOB = "tests.jobs.counted_nap"  # counts its runs in Redis; sleeps long on the first only


def start_worker(url: str, log: Path, maintenance: int, monitoring: int) -> subprocess.Popen:
    env = environment_without_settings()
    env.update(SURVEYBOT_ENV="test", REDIS_URL=url, DATABASE_URL="")
    env.update(WORKER_MAINTENANCE_SECONDS=str(maintenance), JOB_MONITORING_SECONDS=str(monitoring))
    env["PSEUDONYM_KEY"] = "bench-worker-kill-key-0123456789"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("surveybot")), "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def until(condition, what: str, logs: list[Path]) -> float:  # noqa: ANN001
    start = time.monotonic()
    while time.monotonic() - start < DEADLINE:
        if condition():
            return time.monotonic() - start
        time.sleep(0.1)
    raise SystemExit(f"{what}: not within {DEADLINE:.0f} s\n" + "\n".join(tail(p) for p in logs))


def finished(redis: Redis, job_id: str) -> bool:
    return Job.fetch(job_id, connection=redis).get_status() == JobStatus.FINISHED


def killed_mid_job(url: str, folder: Path, maintenance: int, monitoring: int) -> list[tuple]:
    redis, logs = Redis.from_url(url), [folder / "a.log", folder / "b.log"]
    queue, key, later = get_queue(redis), f"runs:{uuid.uuid4().hex}", f"later:{uuid.uuid4().hex}"
    a = start_worker(url, logs[0], maintenance, monitoring)
    b = None
    try:
        until(lambda: redis.exists(f"rq:scheduler-lock:{queue.name}"), "A's scheduler", logs)
        intervals = list(defaults.STORE_RETRY_INTERVALS)
        job = queue.enqueue(JOB, key, 3600, retry=Retry(max=len(intervals), interval=intervals))
        until(lambda: redis.exists(key), "the job started on A", logs)
        b = start_worker(url, logs[1], maintenance, monitoring)
        until(lambda: Worker.count(queue=queue) == 2, "B up", logs)
        os.killpg(a.pid, signal.SIGKILL)  # A, its scheduler; its horse dies with it
        delayed = queue.enqueue_in(timedelta(seconds=5), JOB, later, 0)
        a.wait()
        start = time.monotonic()
        until(lambda: finished(redis, delayed.id), "the delayed job", logs)
        delayed_after = time.monotonic() - start
        until(lambda: finished(redis, job.id), "the job ran again", logs)
        job_after = time.monotonic() - start
    finally:
        for worker in (a, b):
            stop_process(worker)
    return [
        ("killed mid-job: its job ran again", job_after, int(redis.get(key))),
        ("killed mid-job: job delayed 5 s ran", delayed_after, int(redis.get(later))),
    ]


def stuck_in_intermediate(url: str, folder: Path, maintenance: int, monitoring: int) -> list:
    redis, logs = Redis.from_url(url), [folder / "c.log"]
    queue, key = get_queue(redis), f"runs:{uuid.uuid4().hex}"
    job = queue.enqueue(JOB, key, 0)
    redis.lmove(queue.key, queue.intermediate_queue_key)  # as a worker takes a job
    start = time.monotonic()
    worker = start_worker(url, logs[0], maintenance, monitoring)
    try:
        until(lambda: finished(redis, job.id), "the stuck job ran", logs)
    finally:
        stop_process(worker)
    return [("left in the intermediate queue: ran", time.monotonic() - start, int(redis.get(key)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maintenance", type=int, default=defaults.WORKER_MAINTENANCE_SECONDS)
    parser.add_argument("--monitoring", type=int, default=defaults.JOB_MONITORING_SECONDS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-worker-kill-") as tmp:
        folder = Path(tmp)
        server, url = start_redis(folder)
        try:
            rows = killed_mid_job(url, folder, args.maintenance, args.monitoring)
            rows += stuck_in_intermediate(url, folder, args.maintenance, args.monitoring)
        finally:
            stop_process(server)
    print(f"maintenance every {args.maintenance} s, job monitoring every {args.monitoring} s")
    print(f"{'scenario':<40} {'seconds':>8} {'runs':>5}")
    for name, seconds, runs in rows:
        print(f"{name:<40} {seconds:>8.1f} {runs:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
