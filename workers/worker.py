"""The project's RQ workers: RQ's own, except that a failing job's arguments are never logged,
the traceback kept with a failed job names no key, pseudonym or number, and a dead worker's
work does not wait on RQ's long timers.

When a job raises, RQ logs the error with the job's arguments attached to the log record
(`extra`), where any structured log handler writes them out. Our jobs' arguments are a phone
number (an invitation), a Twilio SID (a clean-up) or a completed response's answers (storage,
where the record's time would sit next to them): the record names the job instead. RQ also
keeps the failure's traceback with the job in Redis (and so in its append-only file): a Redis
error's text there names the key (with its pseudonym) and a Twilio error's the number it
refused, so it is scrubbed as log lines are (bot/infra/redaction.py).

After a worker dies (README: workers): every worker runs maintenance every
WORKER_MAINTENANCE_SECONDS even while idle (RQ blocks an idle worker on the queue for up to
405 s and runs maintenance only between jobs); a job a dead worker had taken off the queue but
never started is queued again (RQ would fail it); a clean-up lock a killed worker left (RQ's
lasts 15 minutes) is dropped after one interval; and a work horse dies with its worker, so a
job RQ runs again once its heartbeat lapses is never still running in an orphaned horse.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from datetime import timedelta

from rq import SimpleWorker, Worker
from rq.job import Job, JobStatus
from rq.job_lifecycle import call_exception_handlers, format_exc_info
from rq.queue import Queue
from rq.utils import now

from bot.infra.redaction import scrub

# Moves a job id from the intermediate list back to the head of its queue, once, however many
# workers run maintenance at the same moment. KEYS: intermediate list, queue list.
_REQUEUE_STUCK = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""
_PR_SET_PDEATHSIG = 1  # prctl(2)
# RQ's lock on a queue's clean-up (Queue.acquire_maintenance_lock) lasts this long and is
# released as the clean-up ends, within moments.
_RQ_CLEANING_LOCK_SECONDS = 899
# Deletes the lock if it is older than ARGV[1] seconds of its life (a dead worker's), atomically.
# KEYS: the lock.
_DROP_STALE_LOCK = """
local ttl = redis.call('TTL', KEYS[1])
if ttl > 0 and ttl < tonumber(ARGV[1]) then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class _Maintained:
    """Maintenance on time whether busy or idle, and no job stuck between queue and start."""

    @property
    def dequeue_timeout(self) -> int:
        """How long an idle worker waits on the queue before looking up again: at most one
        maintenance interval, so its maintenance runs on time."""
        longest = super().dequeue_timeout  # type: ignore[misc]
        return max(1, min(longest, int(self.maintenance_interval)))  # type: ignore[attr-defined]

    def clean_registries(self) -> None:
        for queue in self.queues:  # type: ignore[attr-defined]
            self._drop_stale_cleaning_lock(queue)
            self._queue_stuck_jobs(queue)
        super().clean_registries()  # type: ignore[misc]

    def _drop_stale_cleaning_lock(self, queue: Queue) -> None:
        """A worker killed while cleaning `queue` leaves RQ's lock for 15 minutes, and no
        worker cleans it (runs a dead worker's jobs again) meanwhile. A clean-up takes moments:
        a lock held longer than one maintenance interval is such a leftover."""
        interval = int(self.maintenance_interval)  # type: ignore[attr-defined]
        drop = queue.connection.register_script(_DROP_STALE_LOCK)
        if drop(keys=[queue.registry_cleaning_key], args=[_RQ_CLEANING_LOCK_SECONDS - interval]):
            self.log.warning(  # type: ignore[attr-defined]
                "Worker %s: dropped a clean-up lock a stopped worker left",
                self.name,  # type: ignore[attr-defined]
            )

    def _queue_stuck_jobs(self, queue: Queue) -> None:
        """Queue again each job that sits in `queue`'s intermediate list, unstarted, since a
        maintenance at least one interval ago: RQ moves a job there as a worker takes it and
        out as its horse starts it, so it was left by a worker that died or lost Redis in
        between. It never ran: running it now runs it once (RQ's own clean-up, a minute
        later, would fail it, and a job without retries would never run)."""
        intermediate = queue.intermediate_queue
        grace = timedelta(seconds=self.maintenance_interval)  # type: ignore[attr-defined]
        requeue = queue.connection.register_script(_REQUEUE_STUCK)
        for job_id in intermediate.get_job_ids():
            first_seen = intermediate.get_first_seen(job_id)  # noted by RQ's clean-up
            if first_seen is None or now() - first_seen < grace:
                continue
            if job_id in queue.started_job_registry:
                continue
            job = queue.fetch_job(job_id)
            if job is None or job.get_status() != JobStatus.QUEUED:
                continue
            if requeue(keys=[intermediate.key, queue.key], args=[job_id]):
                queue.connection.delete(intermediate.get_first_seen_key(job_id))
                self.log.warning(  # type: ignore[attr-defined]
                    "Worker %s: job %s was taken by a worker that stopped before starting it; "
                    "queued again",
                    self.name,  # type: ignore[attr-defined]
                    job_id,
                )


class _NoArgumentsLogged:
    """`handle_exception` as RQ's, without the job's arguments on the log record."""

    def handle_exception(self, job: Job, *exc_info) -> None:  # noqa: ANN002 - RQ's hook
        self.log.error(  # type: ignore[attr-defined]
            "Worker %s: job %s (%s): exception raised while executing\n%s",
            self.name,  # type: ignore[attr-defined]
            job.id,
            job.description,
            format_exc_info(exc_info),
            extra={"queue": job.origin, "job_id": job.id},
        )
        call_exception_handlers(self._exc_handlers, job, *exc_info)  # type: ignore[attr-defined]

    def handle_job_failure(self, job: Job, queue, *args, exc_string: str = "", **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        """RQ's, with the traceback it stores in Redis scrubbed first."""
        super().handle_job_failure(job, queue, *args, exc_string=scrub(exc_string), **kwargs)  # type: ignore[misc]


class ProjectWorker(_NoArgumentsLogged, _Maintained, Worker):
    """A forking worker (one work horse per job)."""

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        """The horse asks Linux to kill it when its worker dies (RQ puts it in a process group
        of its own, so a kill of the worker's group would miss it): a horse left running
        unwatched would run its job alongside the retry RQ makes once its heartbeat lapses."""
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != self.pid:  # the worker died before the request took effect
                os._exit(1)
        super().main_work_horse(job, queue)


class ProjectSimpleWorker(_NoArgumentsLogged, _Maintained, SimpleWorker):
    """A worker running jobs in its own process (faster, less isolated; used by tests)."""
