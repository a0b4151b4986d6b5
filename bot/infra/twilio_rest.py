"""Calling Twilio's REST API from a job: one way to read a failure and to decide on a retry.

Only numbers leave a failed call: Twilio's error text can quote the phone number or the
request URL (with a SID in it), and an exception raised while handling it would carry that
text along, as its context, into logs and RQ's records.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import TypeVar

import requests
from rq import Retry
from rq.job import Job
from twilio.base.exceptions import TwilioException

T = TypeVar("T")


@dataclass(frozen=True)
class TwilioFailure:
    """Why a call to Twilio failed: HTTP status (None: no answer came; 0: the library refused
    to send it) and Twilio's error code, if any."""

    status: int | None
    code: int | None

    def temporary(self, *, also: Container[int] = ()) -> bool:
        """Worth retrying: no answer, 429, 5xx, or a status or code the caller names."""
        status = self.status
        return (
            status is None
            or status == 429
            or status >= 500
            or status in also
            or (self.code is not None and self.code in also)
        )

    @property
    def label(self) -> str:
        """A short name for counters: the error code, else the HTTP status."""
        if self.code is not None:
            return str(self.code)
        if self.status is None:
            return "no-answer"
        return "client" if self.status == 0 else f"http-{self.status}"

    def __str__(self) -> str:
        status = "no answer" if self.status is None else self.status
        return f"HTTP {status}, error {self.code or '-'}"


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def call_twilio(request: Callable[[], T]) -> tuple[T | None, TwilioFailure | None]:
    """Run one REST request: (its result, None), or (None, why it failed)."""
    try:
        return request(), None
    except TwilioException as exc:  # REST and service errors alike
        status = _as_int(getattr(exc, "status", None))
        failure = TwilioFailure(
            0 if status is None else status, _as_int(getattr(exc, "code", None))
        )
    except requests.RequestException:
        failure = TwilioFailure(None, None)
    return None, failure


def retry_later(job: Job | None, intervals: tuple[int, ...] | list[int]) -> Retry | None:
    """A `Retry` for RQ while the job has retries left, else None (the caller gives up).

    Returned by the job, never raised: the project's workers log no arguments, but a plain RQ
    worker would log a raising job's arguments (a number, a SID) with the error.
    """
    if job is not None and (job.number_of_retries or 0) < len(intervals):
        return Retry(max=len(intervals), interval=list(intervals))
    return None
