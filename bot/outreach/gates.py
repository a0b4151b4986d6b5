"""What a send job checks before it texts: the recipient's window and a day under the caps.

A job that may not send now does not wait in a worker: it schedules a copy of itself (same
sealed arguments, an RQ job scheduled with `enqueue_at` semantics) for the moment it may, and
ends. The copy's id is derived from the first job's id and that moment, so a job run again after
its worker died schedules the same copy again instead of a second one.
"""

from __future__ import annotations

import datetime as dt
import uuid

from redis import Redis
from rq.job import Job

from bot.infra import keys
from bot.infra.config import Settings
from bot.infra.queues import SEND_INVITATION_JOB, get_queue
from bot.infra.stats import count
from bot.outreach import pacing
from bot.outreach.invitations import InviteCount, send_job_options, stat_field
from bot.outreach.pacing import Outreach
from bot.outreach.windows import inside, next_send_time, zones_for_number

NOT_BOOKED = -1
_COPY = "-w"  # a scheduled copy's id: the first job's id, _COPY, the epoch second it is due


def window_opens(
    settings: Settings, number: str, outreach: Outreach, after: dt.datetime
) -> dt.datetime:
    """`after` if it is inside the number's window, else when the window next opens. The
    zones are read from the number now and kept nowhere."""
    zones = zones_for_number(number, fallback=settings.REPORT_TIMEZONE)
    return next_send_time(after, zones, outreach.window, fallback=settings.REPORT_TIMEZONE)


def in_window(settings: Settings, number: str, outreach: Outreach, moment: dt.datetime) -> bool:
    """Whether `moment` is inside the number's window (checked again right before sending)."""
    zones = zones_for_number(number, fallback=settings.REPORT_TIMEZONE)
    if inside(moment, zones, outreach.window):
        return True
    return window_opens(settings, number, outreach, moment) == moment


def defer(
    redis: Redis,
    job: Job | None,
    *,
    at: dt.datetime,
    args: tuple,
    kind: str,
    booked: int,
    deferred: bool,
    refund: tuple[int, Outreach] | None = None,
) -> str:
    """Schedule this send again at `at` (holding the day `booked`, or NOT_BOOKED), giving back
    the day `refund` counted; counted as waiting once per invitation. Returns the outcome."""
    wave = args[0]
    queue = get_queue(redis)
    first = (job.id if job is not None else uuid.uuid4().hex).split(_COPY)[0]
    copy = queue.create_job(
        SEND_INVITATION_JOB,
        args=args,
        kwargs={"kind": str(kind), "booked": booked, "deferred": True},
        job_id=f"{first}{_COPY}{int(at.timestamp())}",
        **send_job_options(wave, kind),
    )
    with redis.pipeline() as pipe:
        pipe.multi()
        queue.schedule_job(copy, at, pipeline=pipe)
        if refund is not None:
            pacing.refund(redis, day=refund[0], wave=wave, outreach=refund[1], pipe=pipe)
        if not deferred:
            count(pipe, keys.invite_stats(wave), stat_field(kind, InviteCount.WAITING))
        pipe.execute()
    return f"waiting until {at:%Y-%m-%d %H:%M} UTC"
