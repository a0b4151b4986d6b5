"""Invitation job: one per number, paced by a send-rate limiter shared in Redis.

The job RQ runs; what it does is in bot/outreach/sending.py.
"""

from __future__ import annotations

# The Twilio client loads its API modules on first use (a fifth of a second). Loading them
# here means a worker that imported this module before forking (as `surveybot worker` should)
# hands them to every job's work horse, instead of each job paying for it after its slot.
import twilio.rest.api.v2010.account.message  # noqa: F401
from rq import Retry, get_current_job

from bot.outreach import sending
from workers import context


def send_invitation(
    wave: str,
    number: str,
    language: str,
    body: str,
    kind: str = "invitation",
    booked: int = -1,
    deferred: bool = False,
) -> str | Retry:
    """Text one invitation or reminder (in the recipient's window, under the daily caps, at the
    shared rate); returns the outcome, never the number."""
    settings, redis, job = context.settings(), context.redis(), get_current_job()
    return sending.send_invitation(
        settings,
        redis,
        job,
        wave=wave,
        number=number,
        language=language,
        body=body,
        kind=kind,
        booked=booked,
        deferred=deferred,
    )
