"""The weekly email under SMTP faults: at most once, and retried for hours, not seconds.

The project stands on the at-most-once side ("in doubt, never resent automatically"): when the
relay may have accepted the message (the connection died after the message was handed over),
nothing resends it; when it certainly did not (the relay is down), the job tries again later.
"""

from __future__ import annotations

import email
import functools
import socket
from dataclasses import replace

import pytest
from aiosmtpd.controller import Controller
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlmodel import Session

import bot.infra.mailer
from bot.infra.db import get_engine
from bot.infra.exceptions import MailInDoubt
from bot.infra.models import ReportDelivery
from bot.infra.queues import get_queue
from bot.releases.weekly import (
    WEEKLY_RETRY_DELAYS,
    DeliveryStatus,
    send_or_retry_later,
    send_week_report,
)
from workers import context

WEEK = "2026-W47"


class LosesItsReply:
    """A relay that accepts the message, then loses the connection before its "250"."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        self.messages.append(email.message_from_bytes(envelope.content))
        server.transport.abort()  # accepted, but the client never hears it
        return "250 OK"


class Accepts:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def no_waiting(monkeypatch):
    """The mailer's own backoff (seconds to minutes) recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(
        bot.infra.mailer,
        "send_message",
        functools.partial(bot.infra.mailer.send_message, sleep=waits.append),
    )
    return waits


def settings_for(app, port: int):  # noqa: ANN001
    value = replace(
        app.extensions["surveybot"].settings,
        SMTP_URL=f"smtp://127.0.0.1:{port}?timeout=5",
        REPORT_FROM="survey@coalition.example",
        REPORT_RECIPIENTS=("partners@coalition.example",),
    )
    context.configure(value)
    return value


def delivery(db) -> ReportDelivery | None:
    with Session(get_engine(db)) as session:
        return session.get(ReportDelivery, ("default", WEEK))


def test_a_lost_reply_is_never_followed_by_a_second_mail(app, redis, db, no_waiting):
    relay = LosesItsReply()
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = settings_for(app, port)
        with pytest.raises(MailInDoubt):  # the mailer alone: one attempt, no retry
            _send_one(settings)
        assert len(relay.messages) == 1 and no_waiting == []
        assert send_week_report(settings, redis, wave="default", week=WEEK) == "in doubt"
        assert len(relay.messages) == 2  # the report reached the relay, once
        assert delivery(db).status == DeliveryStatus.SENDING  # in doubt: left claimed
        # The weekly job and its retries find the week in doubt and send nothing more.
        assert send_or_retry_later(settings, redis, WEEK, attempt=0) == {"default": "in doubt"}
        assert len(relay.messages) == 2
    finally:
        controller.stop()


def run_due_retry(redis) -> None:  # noqa: ANN001
    """The scheduled retry, run as if its time had come (one job, in this process)."""
    queue = get_queue(redis)
    scheduled = ScheduledJobRegistry(queue=queue)
    [job_id] = scheduled.get_job_ids()
    job = queue.fetch_job(job_id)
    scheduled.remove(job)
    queue.enqueue_job(job)
    SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)


def _send_one(settings) -> None:  # noqa: ANN001
    message = email.message.EmailMessage()
    message["From"], message["To"], message["Subject"] = (
        "survey@coalition.example",
        "partners@coalition.example",
        "a probe",
    )
    message.set_content("probe")
    bot.infra.mailer.send_message(message, settings.SMTP_URL)


def test_a_relay_down_for_hours_gets_the_report_when_it_is_back(app, redis, db, no_waiting):
    port = free_port()  # nothing listens: the relay is down
    settings = settings_for(app, port)
    outcome = send_or_retry_later(settings, redis, WEEK, attempt=0)
    assert outcome == f"not sent; retry 1 of {len(WEEKLY_RETRY_DELAYS)} in 600 s"
    assert delivery(db) is None  # certainly not sent: the week was given back
    assert no_waiting  # the mailer backed off between its own attempts first
    scheduled = ScheduledJobRegistry(queue=get_queue(redis))
    [job_id] = scheduled.get_job_ids()
    job = get_queue(redis).fetch_job(job_id)
    assert job.func_name == "workers.weekly.retry_weekly_report" and job.args == (WEEK, 1)

    # Still down at the first retry: the next one is scheduled further out.
    run_due_retry(redis)
    [job_id] = scheduled.get_job_ids()
    assert get_queue(redis).fetch_job(job_id).args == (WEEK, 2)

    relay = Accepts()  # back up, on the same address
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        run_due_retry(redis)
        assert len(relay.messages) == 1
        assert delivery(db).status == DeliveryStatus.SENT
        assert scheduled.get_job_ids() == []
        assert send_or_retry_later(settings, redis, WEEK, attempt=0) == {"default": "already sent"}
        assert len(relay.messages) == 1
    finally:
        controller.stop()


def test_retries_stop_after_about_fourteen_hours(app, redis, db, no_waiting):
    settings = settings_for(app, free_port())
    assert 13 * 3600 < sum(WEEKLY_RETRY_DELAYS) < 15 * 3600  # hours of tries, not seconds
    with pytest.raises(bot.infra.mailer.MailError):
        send_or_retry_later(settings, redis, WEEK, attempt=len(WEEKLY_RETRY_DELAYS))
    assert ScheduledJobRegistry(queue=get_queue(redis)).get_job_ids() == []
