"""The weekly report goes out at most once per week, through a real local SMTP server."""

from __future__ import annotations

import datetime as dt
import email
import random
import socket
import threading
from dataclasses import replace

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session

from bot.infra.db import get_engine
from bot.infra.exceptions import MailError
from bot.infra.models import ReportDelivery, Wave
from bot.outreach.waves import close_wave, create_wave, open_wave
from bot.releases import weekly
from bot.releases.weekly import DeliveryStatus, report_waves, send_week_report, send_weekly_reports
from tests.factories import random_answers, response_payload
from workers import context
from workers.storage import store_response

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
        session.add(
            ReportDelivery(
                wave="default",
                week=WEEK,
                status=DeliveryStatus.SENDING,
                claimed_on=dt.date(2026, 11, 23),
            )
        )
        session.commit()
    assert send_week_report(settings, redis, wave="default", week=WEEK) == "in doubt"
    assert inbox.messages == []
    # An operator who checked with the recipients can send it again on purpose.
    assert send_week_report(settings, redis, wave="default", week=WEEK, force=True) == "sent"
    assert len(inbox.messages) == 1 and delivery(db).status == DeliveryStatus.SENT


def test_a_failed_send_releases_the_week_for_the_retry(settings, redis, inbox, db, monkeypatch):
    inbox.refuse_next = 100  # the relay keeps saying "try again later"
    import functools

    import bot.infra.mailer

    waits: list[float] = []
    no_wait = functools.partial(bot.infra.mailer.send_message, sleep=waits.append)
    monkeypatch.setattr(bot.infra.mailer, "send_message", no_wait)
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

    from bot.infra.queues import get_queue
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
    assert job.latest_result().return_value == {"default": "sent"}  # no wave was ever created
    assert len(inbox.messages) == 1


# ---------------------------------------------------------------------------------- waves


def make_wave(db, redis, name, *, status="open", created_on=dt.date(2026, 11, 1), **fields):
    """A wave as organizers leave it: drafted, opened (questionnaire snapshotted), closed."""
    with Session(get_engine(db)) as session:
        create_wave(session, name=name, start_keywords={"en": [name.upper()]})
        if status != "draft":
            open_wave(session, redis, name, allow_placeholders=True)
        if status == "closed":
            close_wave(session, redis, name)
        wave = session.get(Wave, name)
        wave.created_on = created_on
        for key, value in fields.items():
            setattr(wave, key, value)
        session.add(wave)
        session.commit()


def answer(app, wave, day=dt.date(2026, 11, 18)):
    q = app.extensions["surveybot"].questionnaire
    answers = random_answers(q, random.Random(1))
    store_response(response_payload(q, answers, wave=wave, day=day))


def test_the_implicit_wave_is_reported_only_while_no_wave_exists(settings, redis, db):
    assert report_waves(settings, WEEK) == ["default"]
    make_wave(db, redis, "summer")
    assert report_waves(settings, WEEK) == ["summer"]


def test_each_wave_open_during_the_week_is_reported(app, settings, redis, db):
    report_time = dt.datetime(2026, 11, 23, 13, tzinfo=dt.UTC)  # Monday 08:00 in New York
    make_wave(db, redis, "open-now")
    make_wave(db, redis, "a-draft", status="draft")
    make_wave(db, redis, "created-later", created_on=dt.date(2026, 11, 23))
    make_wave(db, redis, "closed-with-answers", status="closed")
    answer(app, "closed-with-answers")
    make_wave(db, redis, "closed-long-ago", status="closed")
    answer(app, "closed-long-ago", day=dt.date(2026, 10, 7))
    # Closed by its schedule on Sunday evening in New York (already Monday in UTC).
    sunday_night = dt.datetime(2026, 11, 23, 2, tzinfo=dt.UTC)
    make_wave(db, redis, "closed-sunday", status="closed", closes_at=sunday_night)
    # Closed after the week, before the report: it was open all week.
    monday_early = dt.datetime(2026, 11, 23, 11, tzinfo=dt.UTC)
    make_wave(db, redis, "closed-monday", status="closed", closes_at=monday_early)
    # Closed by hand before its planned closing, with no answers that week.
    later = dt.datetime(2026, 12, 31, tzinfo=dt.UTC)
    make_wave(db, redis, "closed-by-hand", status="closed", closes_at=later)
    before = dt.datetime(2026, 11, 13, tzinfo=dt.UTC)
    make_wave(db, redis, "closed-before", status="closed", closes_at=before)
    assert report_waves(settings, WEEK, now=report_time) == [
        "closed-monday",
        "closed-sunday",
        "closed-with-answers",
        "open-now",
    ]


def test_the_weekly_job_sends_each_open_waves_report_once(app, settings, redis, inbox, db):
    make_wave(db, redis, "spring", status="closed")
    answer(app, "spring")
    make_wave(db, redis, "summer")
    assert send_weekly_reports(settings, redis, WEEK) == {"spring": "sent", "summer": "sent"}
    assert send_weekly_reports(settings, redis, WEEK) == {
        "spring": "already sent",
        "summer": "already sent",
    }
    waves = sorted(
        next(p for p in m.walk() if p.get_content_type() == "text/plain")
        .get_payload(decode=True)
        .decode()
        .splitlines()[1]
        for m in inbox.messages
    )
    assert waves == ["Wave: spring", "Wave: summer"]
    assert delivery(db) is None  # nothing for the implicit wave


def test_one_waves_failed_mail_does_not_stop_the_others(settings, redis, inbox, db, monkeypatch):
    make_wave(db, redis, "spring")
    make_wave(db, redis, "summer")
    inbox.refuse_next = 5  # spring's five attempts fail; summer's first goes through
    import functools

    import bot.infra.mailer

    no_wait = functools.partial(bot.infra.mailer.send_message, sleep=lambda _: None)
    monkeypatch.setattr(bot.infra.mailer, "send_message", no_wait)
    with pytest.raises(MailError, match="spring"):
        send_weekly_reports(settings, redis, WEEK)
    assert len(inbox.messages) == 1
    assert send_weekly_reports(settings, redis, WEEK) == {
        "spring": "sent",
        "summer": "already sent",
    }


# ---------------------------------------------------------------------------------- composing


@pytest.fixture
def composed(monkeypatch):
    """How many emails were composed (composing is the costly part)."""
    calls: list[str] = []
    real = weekly.compose

    def spy(*args, **kwargs):
        calls.append(kwargs["wave"])
        return real(*args, **kwargs)

    monkeypatch.setattr(weekly, "compose", spy)
    return calls


def test_the_email_is_composed_only_by_the_sender_that_holds_the_week(
    settings, redis, inbox, db, composed
):
    assert send_week_report(settings, redis, wave="default", week=WEEK) == "sent"
    assert send_week_report(settings, redis, wave="default", week=WEEK) == "already sent"
    lock = redis.lock(f"sb:report:lock:default:{WEEK}", timeout=60)
    assert lock.acquire(blocking=False)
    try:
        outcome = send_week_report(settings, redis, wave="default", week=WEEK, force=True)
    finally:
        lock.release()
    assert outcome == "locked"
    assert composed == ["default"]


def broken(*args, **kwargs):
    raise RuntimeError("the database went away")


def test_a_failure_to_compose_gives_the_week_back(settings, redis, inbox, db, monkeypatch):
    monkeypatch.setattr(weekly, "compose", broken)
    with pytest.raises(RuntimeError):
        send_week_report(settings, redis, wave="default", week=WEEK)
    assert delivery(db) is None  # not claimed: the next attempt sends it
    monkeypatch.undo()
    assert send_week_report(settings, redis, wave="default", week=WEEK) == "sent"
    assert len(inbox.messages) == 1


def test_a_failed_forced_resend_leaves_the_week_as_it_was(settings, redis, inbox, db, monkeypatch):
    assert send_week_report(settings, redis, wave="default", week=WEEK) == "sent"
    before = delivery(db)
    monkeypatch.setattr(weekly, "compose", broken)
    with pytest.raises(RuntimeError):
        send_week_report(settings, redis, wave="default", week=WEEK, force=True)
    after = delivery(db)
    assert (after.status, after.sent_on, after.recipients) == (
        DeliveryStatus.SENT,
        before.sent_on,
        before.recipients,
    )
    monkeypatch.undo()
    assert send_week_report(settings, redis, wave="default", week=WEEK) == "already sent"
