"""Deleting records at Twilio (TWILIO_DELETE_MESSAGES=1): scheduling from webhooks and status
callbacks, the job against a local fake Twilio REST server (successes, 404s, retries, permanent
failures), the operator's CLI line, and the scan proving no SID is left behind.

Redis, RQ and the database are real; Twilio is faked at its HTTP boundary (tests/fake_twilio.py).
Scheduled times are checked against the clock read just before and just after scheduling,
never against elapsed time.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner
from rq.registry import ScheduledJobRegistry

from bot import create_app
from bot.cli.cleanup import cleanup_group
from bot.infra import clock as bot_clock
from bot.infra import defaults, keys
from bot.infra.config import load_settings
from bot.infra.exceptions import ConfigError
from bot.infra.privacy import message_digest
from bot.infra.queues import get_queue
from bot.infra.sealing import generate_storage_keys, open_text
from bot.records.cleanup import RecordKind, schedule_deletion
from tests.fake_twilio import (
    NOT_COMPLETE,
    SERVER_ERROR,
    TOO_MANY_REQUESTS,
    UNAUTHORIZED,
    FakeTwilio,
)
from tests.test_privacy import assert_clean, database_dump, redis_dump, sealed_arguments
from tests.utils import (
    new_sid,
    no_jobs_left,
    replies_of,
    run_queued,
    sign,
    sms,
    sms_status,
    whatsapp,
)
from workers import context
from workers.worker import ProjectSimpleWorker as SimpleWorker

ACCOUNT = "AC" + "1" * 32
PHONE = "+13055550123"
STATUS_URL = "https://bot.example.org/twilio/sms/status"
FORBIDDEN = (403, 20403, "Forbidden")
RETRIES = len(defaults.CLEANUP_RETRY_INTERVALS)


def new_call_sid() -> str:
    return "CA" + new_sid()[2:]


# ------------------------------------------------------------------------------------ helpers


@pytest.fixture
def fake():
    """A fake Twilio REST server."""
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def make_app(settings_overrides, redis, fake):
    """Build an app talking to the fake Twilio, with deletion on or off."""
    apps = []

    def make(*, delete: bool = True, **extra):
        application = create_app(
            {
                **settings_overrides,
                "TWILIO_ACCOUNT_SID": ACCOUNT,
                "TWILIO_API_BASE_URL": fake.url,
                "TWILIO_DELETE_MESSAGES": "1" if delete else "0",
                **extra,
            }
        )
        context.configure(application.extensions["surveybot"].settings)
        apps.append(application)
        return application

    yield make
    context.configure(None)
    for application in apps:
        application.extensions["surveybot"].redis.close()


@pytest.fixture
def app(make_app):
    """The web app with deletion at Twilio on."""
    return make_app()


def settings_of(app):
    return app.extensions["surveybot"].settings


def status_callback(client, sid, status, *, to=PHONE, code=""):
    sms_status(client, sid, status, to=to, code=code)


def run_all(redis, settings) -> None:
    """Run every queued job; deletions and retries scheduled for later run now."""
    run_queued(redis, settings, rounds=RETRIES + 5)


def run_once(redis) -> None:
    """Run what is queued now (not what is scheduled for later)."""
    queue = get_queue(redis)
    SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)


def scheduled(redis) -> list[tuple[object, float]]:
    """The scheduled jobs with the time each is due (epoch seconds), earliest first."""
    queue = get_queue(redis)
    registry = ScheduledJobRegistry(queue=queue)
    out = []
    for job_id, score in redis.zrange(registry.key, 0, -1, withscores=True):
        out.append((queue.fetch_job(job_id.decode()), score))
    return out


def deletion_jobs(redis) -> list:
    return [job for job, _ in scheduled(redis) if job.func_name.startswith("workers.cleanup.")]


def counts(redis, day: str | None = None) -> dict[str, int]:
    day = day or bot_clock.today().isoformat()
    return {k.decode(): int(v) for k, v in redis.hgetall(keys.cleanup_stats(day)).items()}


def schedule(app, kind, sid, status) -> bool:
    state = app.extensions["surveybot"]
    return schedule_deletion(
        state.settings, state.redis, state.queue, kind=kind, sid=sid, status=status
    )


def opened(app, job) -> tuple[str, str]:  # noqa: ANN001
    """A deletion job's (kind, SID), its SID opened with the storage secret key; the job data
    itself never holds the SID in clear (Redis persists it)."""
    kind, sealed = job.args
    assert sid_pattern_absent(sealed)
    return kind, open_text(settings_of(app).storage_secret_key, sealed)


def sid_pattern_absent(value: str) -> bool:
    return not re.search(r"(SM|MM|CA)[0-9a-f]{32}", value)


# -------------------------------------------------------------------------- inbound messages


def test_an_inbound_text_is_deleted_at_twilio_a_little_later(app, redis, fake):
    sid = new_sid()
    before = time.time()
    response = sms(app.test_client(), PHONE, "SURVEY", sid=sid)
    after = time.time()
    assert replies_of(response)

    # Nothing runs now: one job, scheduled CLEANUP_DELAY_SECONDS later, described without
    # its SID, that leaves nothing behind when it ends.
    assert get_queue(redis).count == 0
    [(job, due)] = [(j, d) for j, d in scheduled(redis) if j.func_name.startswith("workers.")]
    assert job.func_name == "workers.cleanup.delete_twilio_record"
    assert opened(app, job) == ("message", sid) and job.kwargs == {"fallback": False}
    assert job.description == "delete a message record at Twilio"
    assert (job.result_ttl, job.failure_ttl) == (0, defaults.CLEANUP_FAILURE_TTL_SECONDS)
    delay = defaults.CLEANUP_DELAY_SECONDS
    assert int(before) + delay - 1 <= due <= after + delay + 1
    marker = keys.cleanup_scheduled("message", message_digest(settings_of(app).PSEUDONYM_KEY, sid))
    assert 0 < redis.ttl(marker) <= defaults.CLEANUP_DEDUP_TTL_SECONDS
    assert not fake.requests, "no Twilio REST call on the request path"

    run_all(redis, settings_of(app))
    assert fake.deletions == [("Messages", sid, 204)]
    [request] = fake.requests
    assert request["method"] == "DELETE"
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json"
    assert request["auth"].startswith("Basic ")
    assert counts(redis) == {"message:scheduled": 1, "message:deleted": 1}
    no_jobs_left(redis)


def test_whatsapp_message_records_are_deleted_at_twilio_like_texts(app, redis, fake):
    # WhatsApp messages are Messages API records too (SM, or MM with media): a message, the
    # bot's replies to it (their final status) and a voice note are deleted the same way.
    client = app.test_client()
    text_sid, voice_sid, reply_sid = new_sid(), "MM" + new_sid()[2:], new_sid()
    response = whatsapp(client, PHONE, "SURVEY", sid=text_sid)
    messages = list(ET.fromstring(response.data).iter("Message"))
    assert messages and all(m.attrib == {"action": STATUS_URL} for m in messages)
    replies_of(whatsapp(client, PHONE, "", sid=voice_sid, media="audio"))
    status_callback(client, reply_sid, "read", to="whatsapp:" + PHONE)
    assert not fake.requests, "no Twilio REST call on the request path"
    run_all(redis, settings_of(app))
    assert sorted(fake.deletions) == sorted(
        [("Messages", sid, 204) for sid in (text_sid, voice_sid, reply_sid)]
    )
    paths = {r["path"] for r in fake.requests}
    assert paths == {
        f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json"
        for sid in (text_sid, voice_sid, reply_sid)
    }
    no_jobs_left(redis)


def test_replies_report_their_status_to_the_status_route(app):
    response = sms(app.test_client(), PHONE, "SURVEY", sid=new_sid())
    messages = list(ET.fromstring(response.data).iter("Message"))
    assert messages
    for message in messages:
        assert message.attrib == {"action": STATUS_URL}


def test_with_deletion_off_nothing_is_scheduled_and_the_twiml_is_unchanged(make_app, redis, fake):
    off = make_app(delete=False)
    client = off.test_client()
    sid = new_sid()
    response = sms(client, PHONE, "SURVEY", sid=sid)
    replies = replies_of(response)
    assert replies
    body = "".join(f"<Message>{escape(text)}</Message>" for text in replies)
    assert response.data.decode() == (
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
    )
    status_callback(client, new_sid(), "delivered")
    assert not schedule(off, RecordKind.CALL, new_call_sid(), "completed")
    assert deletion_jobs(redis) == []
    assert not redis.keys(f"{keys.PREFIX}:cleanup:*")
    run_all(redis, settings_of(off))
    assert fake.requests == []

    # The same conversation with deletion on differs only by the action attribute.
    on = make_app(delete=True)
    redis.flushdb()
    with_action = sms(on.test_client(), PHONE, "SURVEY", sid=new_sid()).data.decode()
    assert with_action.replace(f' action="{STATUS_URL}"', "") == response.data.decode()


def test_a_retried_webhook_schedules_one_deletion(app, redis, fake):
    client = app.test_client()
    sid = new_sid()
    first = sms(client, PHONE, "SURVEY", sid=sid)
    again = sms(client, PHONE, "SURVEY", sid=sid)  # Twilio's retry of the same message
    assert again.data == first.data
    assert len(deletion_jobs(redis)) == 1
    run_all(redis, settings_of(app))
    assert fake.deletions == [("Messages", sid, 204)]
    no_jobs_left(redis)


# -------------------------------------------------------------------------- status callbacks


@pytest.mark.parametrize("status", ["delivered", "undelivered", "failed", "read", "canceled"])
def test_a_final_status_schedules_the_deletion(app, redis, fake, status):
    sid = new_sid()
    status_callback(app.test_client(), sid, status, code="30003" if status != "delivered" else "")
    [job] = deletion_jobs(redis)
    assert opened(app, job) == ("message", sid)
    run_all(redis, settings_of(app))
    assert fake.deletions == [("Messages", sid, 204)]


@pytest.mark.parametrize("status", ["accepted", "queued", "sending", "scheduled", "weird", ""])
def test_a_status_that_is_not_final_schedules_nothing(app, redis, status):
    status_callback(app.test_client(), new_sid(), status)
    assert deletion_jobs(redis) == []
    assert counts(redis) == {}


def test_repeated_callbacks_schedule_one_job(app, redis, fake):
    client = app.test_client()
    sid = new_sid()
    for status in ("delivered", "delivered", "read", "undelivered"):
        status_callback(client, sid, status)
    assert len(deletion_jobs(redis)) == 1
    assert counts(redis) == {"message:scheduled": 1}
    run_all(redis, settings_of(app))
    assert fake.deletions == [("Messages", sid, 204)]
    no_jobs_left(redis)


def test_sent_without_a_receipt_is_deleted_much_later(app, redis, fake):
    sid = new_sid()
    before = time.time()
    status_callback(app.test_client(), sid, "sent")
    after = time.time()
    [(job, due)] = [(j, d) for j, d in scheduled(redis)]
    assert opened(app, job) == ("message", sid) and job.kwargs == {"fallback": True}
    delay = defaults.CLEANUP_SENT_DELAY_SECONDS
    assert delay > defaults.CLEANUP_DELAY_SECONDS
    assert int(before) + delay - 1 <= due <= after + delay + 1
    status_callback(app.test_client(), sid, "sent")  # repeated: nothing more
    assert len(deletion_jobs(redis)) == 1
    run_all(redis, settings_of(app))
    assert fake.deletions == [("Messages", sid, 204)]
    assert counts(redis) == {"message:scheduled": 1, "message:deleted": 1}
    no_jobs_left(redis)


def test_a_final_status_after_sent_takes_over_and_the_late_job_does_nothing(app, redis, fake):
    client = app.test_client()
    sid = new_sid()
    status_callback(client, sid, "sent")
    status_callback(client, sid, "delivered")
    jobs = scheduled(redis)
    assert [j.kwargs["fallback"] for j, _ in jobs] == [False, True]  # the prompt one first
    assert jobs[0][1] < jobs[1][1]
    run_all(redis, settings_of(app))
    assert fake.deletions == [("Messages", sid, 204)], "one DELETE, not a second one for a 404"
    assert counts(redis) == {"message:scheduled": 2, "message:deleted": 1}
    no_jobs_left(redis)


def test_sent_after_a_final_status_schedules_nothing_more(app, redis):
    client = app.test_client()
    sid = new_sid()
    status_callback(client, sid, "delivered")
    status_callback(client, sid, "sent")  # callbacks can arrive out of order
    assert [j.kwargs["fallback"] for j in deletion_jobs(redis)] == [False]


# ------------------------------------------------------------------------------------- calls


def test_a_finished_call_record_is_deleted(app, redis, fake):
    sid = new_call_sid()
    for status in ("queued", "initiated", "ringing", "in-progress"):
        assert not schedule(app, RecordKind.CALL, sid, status)
    assert schedule(app, RecordKind.CALL, sid, "completed")
    assert not schedule(app, RecordKind.CALL, sid, "completed"), "a repeated callback"
    [job] = deletion_jobs(redis)
    assert opened(app, job) == ("call", sid)
    assert job.description == "delete a call record at Twilio"
    run_all(redis, settings_of(app))
    assert fake.deletions == [("Calls", sid, 204)]
    assert fake.requests[0]["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json"
    assert counts(redis) == {"call:scheduled": 1, "call:deleted": 1}
    no_jobs_left(redis)


def test_the_voice_status_route_schedules_the_call_deletion(app, redis, fake):
    client = app.test_client()
    sid = new_call_sid()
    for status in ("ringing", "in-progress", "completed", "completed"):
        params = {
            "CallSid": sid,
            "CallStatus": status,
            "AccountSid": ACCOUNT,
            "From": PHONE,
            "To": "+15005550006",
            "ApiVersion": "2010-04-01",
        }
        response = client.post(
            "/twilio/voice/status",
            data=params,
            headers={"X-Twilio-Signature": sign(app, "/twilio/voice/status", params)},
        )
        assert response.status_code == 204
    [job] = deletion_jobs(redis)
    assert opened(app, job) == ("call", sid)
    run_all(redis, settings_of(app))
    assert fake.deletions == [("Calls", sid, 204)]
    no_jobs_left(redis)


@pytest.mark.parametrize("status", ["busy", "failed", "no-answer", "canceled", "Completed"])
def test_every_final_call_status_schedules_the_deletion(app, redis, status):
    assert schedule(app, RecordKind.CALL, new_call_sid(), status)


@pytest.mark.parametrize(
    ("kind", "sid"),
    [
        (RecordKind.CALL, "SM" + "4e" * 16),  # a message SID is not a call
        (RecordKind.MESSAGE, "CA" + "4e" * 16),
        (RecordKind.MESSAGE, "SM123"),
        (RecordKind.MESSAGE, "SM" + "g" * 32),
        (RecordKind.MESSAGE, ""),
        (RecordKind.CALL, "CA" + "0" * 33),
    ],
)
def test_only_sids_of_the_right_shape_are_scheduled(app, redis, kind, sid):
    final = "completed" if kind is RecordKind.CALL else "delivered"
    assert not schedule(app, kind, sid, final)
    assert deletion_jobs(redis) == []


def test_an_mms_sid_is_a_message(app, redis, fake):
    sid = "MM" + new_sid()[2:]
    assert schedule(app, RecordKind.MESSAGE, sid, "delivered")
    run_all(redis, settings_of(app))
    assert fake.deletions == [("Messages", sid, 204)]


def test_without_credentials_nothing_is_scheduled(make_app, redis):
    no_account = make_app(TWILIO_ACCOUNT_SID="")
    assert not schedule(no_account, RecordKind.MESSAGE, new_sid(), "delivered")
    replies = sms(no_account.test_client(), PHONE, "SURVEY", sid=new_sid())
    assert b"action=" not in replies.data
    assert deletion_jobs(redis) == []


# ---------------------------------------------------------------------------- job outcomes


def test_a_record_already_gone_counts_as_done(app, redis, fake):
    sid = new_sid()
    fake.deleted.add(sid)  # deleted before (by hand, or by an earlier job)
    assert schedule(app, RecordKind.MESSAGE, sid, "delivered")
    run_all(redis, settings_of(app))
    assert fake.deletions == [("Messages", sid, 404)]
    assert counts(redis) == {"message:scheduled": 1, "message:already_gone": 1}
    no_jobs_left(redis)


def test_temporary_errors_are_retried_with_backoff_then_succeed(app, redis, fake, caplog):
    caplog.set_level(logging.DEBUG)
    sid = new_sid()
    fake.fail_next(SERVER_ERROR, TOO_MANY_REQUESTS, NOT_COMPLETE)
    assert schedule(app, RecordKind.MESSAGE, sid, "delivered")
    queue = get_queue(redis)
    [job] = deletion_jobs(redis)
    ScheduledJobRegistry(queue=queue).remove(job.id)
    queue.enqueue_job(job)  # due now

    before = time.time()
    run_once(redis)
    after = time.time()
    [(retry, due)] = scheduled(redis)
    assert retry.id == job.id, "the same job, scheduled again"
    first = defaults.CLEANUP_RETRY_INTERVALS[0]
    assert int(before) + first - 1 <= due <= after + first + 1
    assert counts(redis)["message:retried"] == 1

    run_all(redis, settings_of(app))
    assert [status for _, _, status in fake.deletions] == [500, 429, 400, 204]
    assert counts(redis) == {"message:scheduled": 1, "message:retried": 3, "message:deleted": 1}
    no_jobs_left(redis)
    # A retry is not an error in RQ's eyes: nothing logged as one (RQ attaches the job's
    # arguments to the records of jobs that raise).
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_temporary_errors_that_outlast_the_retries_count_as_failed(app, redis, fake):
    fake.error = NOT_COMPLETE
    assert schedule(app, RecordKind.CALL, new_call_sid(), "completed")
    run_all(redis, settings_of(app))
    assert len(fake.deletions) == RETRIES + 1
    assert counts(redis) == {
        "call:scheduled": 1,
        "call:retried": RETRIES,
        "call:failed": 1,
        "call:error:temporary": 1,
    }
    no_jobs_left(redis)


def test_no_connection_is_a_temporary_error(app, redis, fake):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once closed
    assert schedule(app, RecordKind.MESSAGE, new_sid(), "delivered")
    run_all(redis, replace(settings_of(app), TWILIO_API_BASE_URL=closed))
    assert counts(redis) == {
        "message:scheduled": 1,
        "message:retried": RETRIES,
        "message:failed": 1,
        "message:error:temporary": 1,
    }
    assert fake.requests == []
    no_jobs_left(redis)


@pytest.mark.parametrize("error", [UNAUTHORIZED, FORBIDDEN, (400, 21999, "Bad request")])
def test_a_permanent_error_is_counted_and_not_retried(app, redis, fake, error):
    status, code, _ = error
    fake.error = error
    assert schedule(app, RecordKind.MESSAGE, new_sid(), "failed")
    run_all(redis, settings_of(app))
    assert [s for _, _, s in fake.deletions] == [status]
    assert counts(redis) == {
        "message:scheduled": 1,
        "message:failed": 1,
        f"message:error:{code}": 1,
    }
    no_jobs_left(redis)


def test_one_failing_record_does_not_hold_up_the_others(app, redis, fake):
    bad, good = new_sid(), new_sid()
    fake.fail_for[bad] = FORBIDDEN
    for sid in (bad, good):
        assert schedule(app, RecordKind.MESSAGE, sid, "delivered")
    run_all(redis, settings_of(app))
    assert sorted(fake.deletions) == sorted([("Messages", bad, 403), ("Messages", good, 204)])
    assert counts(redis)["message:deleted"] == 1 and counts(redis)["message:failed"] == 1


# ----------------------------------------------------------------------------- configuration


def test_production_refuses_deletion_without_twilio_credentials():
    good = {
        "SURVEYBOT_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "PSEUDONYM_KEY": "p" * 40,
        "TWILIO_AUTH_TOKEN": "t" * 32,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "PUBLIC_BASE_URL": "https://survey.example.org",
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "DATABASE_URL": "sqlite:///unused.sqlite3",
        "TWILIO_DELETE_MESSAGES": "1",
        "STORAGE_PUBLIC_KEY": generate_storage_keys()[0],
    }
    load_settings(good, env_file=None).validate()
    with pytest.raises(ConfigError, match="TWILIO_DELETE_MESSAGES=1 needs TWILIO_ACCOUNT_SID"):
        load_settings({**good, "TWILIO_ACCOUNT_SID": ""}, env_file=None).validate()
    load_settings({**good, "TWILIO_ACCOUNT_SID": "", "TWILIO_DELETE_MESSAGES": "0"}, env_file=None)


# ------------------------------------------------------------------------------------- CLI


def test_cli_status_prints_the_counters(app, redis, fake, monkeypatch):
    sids = [new_sid(), new_sid()]
    fake.fail_for[sids[1]] = UNAUTHORIZED
    for sid in sids:
        schedule(app, RecordKind.MESSAGE, sid, "delivered")
    schedule(app, RecordKind.CALL, new_call_sid(), "completed")
    run_all(redis, settings_of(app))
    schedule(app, RecordKind.MESSAGE, new_sid(), "delivered")  # still waiting
    yesterday = (bot_clock.today() - dt.timedelta(days=1)).isoformat()
    redis.hset(keys.cleanup_stats(yesterday), "message:deleted", 7)

    settings = settings_of(app)
    for name, value in {
        "SURVEYBOT_ENV": "test",
        "REDIS_URL": settings.REDIS_URL,
        "TWILIO_DELETE_MESSAGES": "1",
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cleanup_group, ["status", "--days", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Deleting records at Twilio: on (TWILIO_DELETE_MESSAGES)"
    assert lines[1] == "deletion jobs waiting (scheduled, queued or to retry): 1"
    assert lines[2].split() == [
        "day", "kind", "scheduled", "deleted", "already", "gone", "retried", "failed", "errors"
    ]  # fmt: skip
    today = bot_clock.today().isoformat()
    assert lines[3].split() == [today, "message", "3", "1", "0", "0", "1", "20003", "x1"]
    assert lines[4].split() == [today, "call", "1", "1", "0", "0", "0"]
    assert lines[5].split() == [yesterday, "message", "0", "7", "0", "0", "0"]
    for sid in sids:
        assert sid not in result.output

    result = CliRunner().invoke(cleanup_group, ["status", "--days", "1"])
    assert yesterday not in result.output
    monkeypatch.setenv("TWILIO_DELETE_MESSAGES", "0")
    redis.flushdb()
    result = CliRunner().invoke(cleanup_group, ["status"])
    assert result.output.splitlines()[0].endswith(": off (TWILIO_DELETE_MESSAGES)")
    assert "no deletions counted in the last 7 days" in result.output


# ------------------------------------------------------------------------------ privacy scan


def test_no_sid_is_left_anywhere_once_the_records_are_deleted(app, db, redis, fake, caplog):
    """A whole survey with deletion on, status callbacks for the bot's replies, a call, and every
    kind of outcome (404 with Twilio's text quoting the URL, retries, a permanent refusal):
    while jobs wait the scan sees their SIDs; afterwards no SID is in Redis, the database or
    the logs (every attribute of every record, RQ's and the HTTP libraries' included)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="surveybot")
    client = app.test_client()
    inbound = []
    for body in ["SURVEY", "1", "4", "3", "1", "1 2", "3", "2"]:
        sid = new_sid()
        inbound.append(sid)
        replies_of(sms(client, PHONE, body, sid=sid))
    replies = [new_sid() for _ in range(4)]  # the SIDs Twilio gives the TwiML replies
    status_callback(client, replies[0], "sent")
    status_callback(client, replies[0], "delivered")
    status_callback(client, replies[1], "undelivered", code="30003")
    status_callback(client, replies[2], "sent")  # no receipt ever
    status_callback(client, replies[3], "failed", code="30008")
    call = new_call_sid()
    assert schedule(app, RecordKind.CALL, call, "completed")
    sids = [*inbound, *replies, call]

    fake.deleted.add(inbound[0])  # 404, with the URL (and SID) in Twilio's text
    fake.fail_for[inbound[1]] = FORBIDDEN
    fake.fail_next(SERVER_ERROR, NOT_COMPLETE)

    before = redis_dump(redis)
    # While their jobs wait, the SIDs are in the job data sealed: the scan finds them there
    # only with the storage secret key, never in clear.
    assert not any(sid.encode() in value for sid in sids for _, value in before)
    assert set(sids) <= sealed_arguments(before, settings_of(app).storage_secret_key)
    assert not any(sid.encode() in key for sid in sids for key, _ in before)
    run_all(redis, settings_of(app))

    # One DELETE per record (the late job of the reply that got "delivered" did nothing), and
    # two more for the retries.
    assert {sid for _, sid, _ in fake.deletions} == set(sids)
    assert len(fake.deletions) == len(sids) + 2
    stats = counts(redis)
    assert stats["message:already_gone"] == 1 and stats["message:failed"] == 1
    assert stats.get("message:retried", 0) + stats.get("call:retried", 0) == 2
    assert stats["call:deleted"] == 1
    assert stats["message:deleted"] == len(inbound) + len(replies) - 2

    after = redis_dump(redis)
    assert_clean([k for k, _ in after] + [v for _, v in after], [PHONE], sids, "Redis")
    for table, rows in database_dump(db).items():
        assert_clean([value for row in rows for value in row], [PHONE], sids, f"table {table}")
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)]
    assert any(r.name.startswith("rq.") for r in records), "the scan must see RQ's logs"
    assert any(r.name == "workers.cleanup" for r in records)
    twilio_lines = [r.getMessage() for r in records if r.name == "twilio.http_client"]
    assert any("DELETE Request:" in line and "/Messages/SM…" in line for line in twilio_lines)
    assert any(r.name == "urllib3.connectionpool" and "DELETE" in r.getMessage() for r in records)
    assert_clean(
        [f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.__dict__!r}" for r in records],
        [PHONE],
        sids,
        "the logs",
    )
    no_jobs_left(redis)
