"""The weekly report goes out at most once per week, through a real local SMTP server."""

from __future__ import annotations

import datetime as dt
import email
import socket
import threading
from dataclasses import replace

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session

from bot.db import get_engine
from bot.exceptions import MailError
from bot.models import ReportDelivery
from workers import context
from workers.weekly import DeliveryStatus, send_week_report

WEEK = "2026-W47"


class Inbox:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.envelopes: list[list[str]] = []
        self.refuse_next = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 4.3.0 try again later"
        self.messages.append(email.message_from_bytes(envelope.content))
        self.envelopes.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def inbox():
    handler = Inbox()
    with socket.socket() as probe:  # aiosmtpd checks its own port on start: pick a free one
        probe.bind(("127.0.0.1", 0))
        handler.port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture
def settings(app, inbox):
    value = replace(
        app.extensions["surveybot"].settings,
        SMTP_URL=f"smtp://127.0.0.1:{inbox.port}?timeout=5",
        REPORT_FROM="survey@coalition.example",
        REPORT_RECIPIENTS=("partners@coalition.example", "wecount@coalition.example"),
    )
    context.configure(value)
    return value


def delivery(db, week=WEEK):
    with Session(get_engine(db)) as session:
        return session.get(ReportDelivery, ("default", week))


def test_sent_once_even_when_asked_twice(settings, redis, inbox, db):
    assert send_week_report(settings, redis, wave="default", week=WEEK) == "sent"
    assert send_week_report(settings, redis, wave="default", week=WEEK) == "already sent"
    assert len(inbox.messages) == 1
    assert sorted(inbox.envelopes[0]) == sorted(settings.REPORT_RECIPIENTS)
    row = delivery(db)
    assert (row.status, row.recipients) == (DeliveryStatus.SENT, 2)


def test_two_cron_processes_at_the_same_moment_send_once(settings, redis, inbox, db):
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def fire():
        barrier.wait(timeout=10)
        outcomes.append(send_week_report(settings, redis, wave="default", week=WEEK))

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(inbox.messages) == 1
    assert sorted(outcomes).count("sent") == 1
    assert set(outcomes) <= {"sent", "locked", "already sent"}


def test_a_worker_that_died_mid_send_is_not_followed_by_a_second_mail(settings, redis, inbox, db):
    with Session(get_engine(db)) as session:  # what a crash in the SMTP conversation leaves
        session.add(ReportDelivery(wave="default", week=WEEK, status=DeliveryStatus.SENDING,
                                   claimed_on=dt.date(2026, 11, 23)))
        session.commit()
    assert send_week_report(settings, redis, wave="default", week=WEEK) == "in doubt"
    assert inbox.messages == []
    # An operator who checked with the recipients can send it again on purpose.
    assert send_week_report(settings, redis, wave="default", week=WEEK, force=True) == "sent"
    assert len(inbox.messages) == 1 and delivery(db).status == DeliveryStatus.SENT


def test_a_failed_send_releases_the_week_for_the_retry(settings, redis, inbox, db, monkeypatch):
    inbox.refuse_next = 100  # the relay keeps saying "try again later"
    import functools

    import bot.mailer

    waits: list[float] = []
    no_wait = functools.partial(bot.mailer.send_message, sleep=waits.append)
    monkeypatch.setattr(bot.mailer, "send_message", no_wait)
    with pytest.raises(MailError):
        send_week_report(settings, redis, wave="default", week=WEEK)
    assert delivery(db) is None  # certainly not sent: nothing claimed
    assert waits  # it did back off between attempts before giving up
    inbox.refuse_next = 0
    assert send_week_report(settings, redis, wave="default", week=WEEK) == "sent"
    assert len(inbox.messages) == 1


def test_a_manual_copy_does_not_count_as_the_weeks_delivery(settings, redis, inbox, db):
    outcome = send_week_report(
        settings, redis, wave="default", week=WEEK, recipients=["organizer@coalition.example"]
    )
    assert outcome == "sent"
    assert inbox.envelopes == [["organizer@coalition.example"]]
    assert delivery(db) is None
    assert send_week_report(settings, redis, wave="default", week=WEEK) == "sent"
    assert len(inbox.messages) == 2


def test_a_week_without_answers_still_sends_a_short_email(settings, redis, inbox):
    send_week_report(settings, redis, wave="default", week="2026-W10")
    [message] = inbox.messages
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    assert "no" in text.get_payload(decode=True).decode().lower()


def test_the_cron_tick_sends_when_due_and_not_otherwise(app, settings, redis, inbox):
    from rq import SimpleWorker

    from workers.queues import get_queue
    from workers.weekly import weekly_report_tick

    queue = get_queue(redis)
    now = dt.datetime.now(dt.UTC)
    not_now = f"{(now.minute + 30) % 60} {(now.hour + 12) % 24} * * *"
    context.configure(replace(settings, REPORT_CRON=not_now, REPORT_TIMEZONE="UTC"))
    job = queue.enqueue(weekly_report_tick)
    SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)
    assert job.latest_result().return_value == "not due"
    assert inbox.messages == []

    context.configure(replace(settings, REPORT_CRON="* * * * *", REPORT_TIMEZONE="UTC"))
    job = queue.enqueue(weekly_report_tick)
    SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)
    assert job.latest_result().return_value == "sent"
    assert len(inbox.messages) == 1
