"""The project's RQ workers: RQ's own, except that a failing job's arguments are never logged
and the traceback kept with a failed job names no key, pseudonym or number.

When a job raises, RQ logs the error with the job's arguments attached to the log record
(`extra`), where any structured log handler writes them out. Our jobs' arguments are a phone
number (an invitation), a Twilio SID (a clean-up) or a completed response's answers (storage,
where the record's time would sit next to them): the record names the job instead. RQ also
keeps the failure's traceback with the job in Redis (and so in its append-only file): a Redis
error's text there names the key (with its pseudonym) and a Twilio error's the number it
refused, so it is scrubbed as log lines are (bot/infra/redaction.py).
"""

from __future__ import annotations

from rq import SimpleWorker, Worker
from rq.job import Job
from rq.job_lifecycle import call_exception_handlers, format_exc_info

from bot.infra.redaction import scrub


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


class ProjectWorker(_NoArgumentsLogged, Worker):
    """A forking worker (one work horse per job)."""


class ProjectSimpleWorker(_NoArgumentsLogged, SimpleWorker):
    """A worker running jobs in its own process (faster, less isolated; used by tests)."""
