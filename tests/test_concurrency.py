"""Retries and races: each message applies exactly once, each completion is never lost."""

from __future__ import annotations

import threading

import pytest

from bot.infra import keys
from bot.infra.privacy import pseudonym
from bot.records import inbox
from tests.utils import inbox_records, new_sid, opened_value, replies_of, run_jobs, sms, text

PHONE = "+13055550177"


def session_of(app, phone=PHONE):
    redis = app.extensions["surveybot"].redis
    key = pseudonym(app.extensions["surveybot"].settings.PSEUDONYM_KEY, phone)
    raw = redis.get(keys.session(key))
    envelope = opened_value(app.extensions["surveybot"].settings, phone, raw)
    return envelope["session"] if envelope else None


def at_the_same_moment(app, calls):
    """Run each (phone, body, sid) through its own client, released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def run(i, phone, body, sid):
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            response = sms(client, phone, body, sid=sid)
            results[i] = (response.status_code, replies_of(response))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


def test_same_message_twice_in_a_row_advances_once_with_the_same_reply(client, app):
    text(client, PHONE, "SURVEY")
    text(client, PHONE, "1")
    sid = new_sid()
    first = replies_of(sms(client, PHONE, "2", sid=sid))
    second = replies_of(sms(client, PHONE, "2", sid=sid))
    assert first == second
    session = session_of(app)
    assert session["answers"] == {"status": "lpr"}
    assert session["question"] == "years_in_us"


@pytest.mark.parametrize("copies", [2, 6])
def test_same_message_at_the_same_moment_advances_once(client, app, copies):
    for attempt in range(10):
        phone = f"+1305555{attempt:04d}"
        text(client, phone, "SURVEY")
        text(client, phone, "1")
        sid = new_sid()
        results = at_the_same_moment(app, [(phone, "SKIP", sid)] * copies)
        assert {status for status, _ in results} == {200}
        assert len({tuple(replies) for _, replies in results}) == 1, results
        session = session_of(app, phone)
        assert session["answers"] == {"status": None}
        assert session["history"] == ["status"]


def test_different_messages_at_the_same_moment_each_apply_exactly_once(client, app):
    for attempt in range(10):
        phone = f"+1786555{attempt:04d}"
        text(client, phone, "SURVEY")
        text(client, phone, "1")
        results = at_the_same_moment(app, [(phone, "SKIP", new_sid()) for _ in range(3)])
        assert {status for status, _ in results} == {200}
        session = session_of(app, phone)
        # Three skips, each applied once: status, years_in_us, afraid_to_seek_help.
        assert session["history"] == ["status", "years_in_us", "afraid_to_seek_help"]
        assert session["question"] == "knows_deported"


def test_concurrent_final_answers_store_exactly_one_response(client, app, db):
    from tests.test_webhook import responses

    for attempt in range(5):
        phone = f"+1954555{attempt:04d}"
        text(client, phone, "SURVEY")
        text(client, phone, "1")
        for _ in range(4):
            text(client, phone, "SKIP")  # status, years, afraid, knows_deported
        assert session_of(app, phone)["question"] == "would_report_crime"
        results = at_the_same_moment(app, [(phone, "1", new_sid()) for _ in range(4)])
        assert {status for status, _ in results} == {200}
    state = app.extensions["surveybot"]
    assert len(inbox_records(state.redis, state.settings, inbox.RESPONSE)) == 5
    run_jobs(app)
    assert len(responses(db)) == 5


def test_a_crash_before_the_response_is_sealed_loses_no_answers(client, app, monkeypatch, db):
    """If the process dies while completing, the answers stay in Redis and Twilio's retry of
    the same message completes the survey once."""
    from tests.test_webhook import responses

    text(client, PHONE, "SURVEY")
    text(client, PHONE, "1")
    for _ in range(4):
        text(client, PHONE, "2")
    before = session_of(app)
    assert before["question"] == "would_report_crime"
    waiting = app.extensions["surveybot"].redis.smembers(keys.STORAGE_INBOX)

    def crash(*args, **kwargs):
        raise ConnectionError("the worker process died here")

    monkeypatch.setattr("bot.records.inbox.put", crash)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    sid = new_sid()
    assert sms(client, PHONE, "1", sid=sid).status_code == 500
    assert session_of(app) == before  # nothing half-applied
    assert app.extensions["surveybot"].redis.smembers(keys.STORAGE_INBOX) == waiting

    monkeypatch.undo()
    replies = replies_of(sms(client, PHONE, "1", sid=sid))  # Twilio retries the same message
    assert replies == [app.extensions["surveybot"].questionnaire.message("closing", "en")]
    assert session_of(app) is None
    run_jobs(app)
    assert len(responses(db)) == 1
