"""The Twilio webhook: signatures, conversations over HTTP, dedup, odd input, status callbacks."""

from __future__ import annotations

import logging
import time

import pytest
from sqlmodel import Session, select

from bot import create_app
from bot.core.engine import language_prompt
from bot.core.render import render_question
from bot.infra import clock as bot_clock
from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.models import Answer, OptOut, Response
from bot.infra.privacy import pseudonym
from bot.records import inbox
from tests.utils import inbox_records, new_sid, replies_of, run_jobs, sign, sms, text

PHONE = "+13055550123"


def q_of(app):
    return app.extensions["surveybot"].questionnaire


def key_of(app, phone=PHONE):
    return pseudonym(app.extensions["surveybot"].settings.PSEUDONYM_KEY, phone)


def responses(url) -> list[Response]:
    with Session(get_engine(url)) as session:
        return list(session.exec(select(Response)))


def take_survey(client, phone=PHONE, lang_word="SURVEY", plan=None):
    """Answer the whole survey; returns the last replies."""
    plan = plan or {}
    q = q_of(client.application)
    text(client, phone, lang_word)
    replies = text(client, phone, "1")
    for _ in range(len(q.questions)):
        question = next((x for x in q.questions if render_question(x, "en") in replies), None)
        if question is None:
            break
        replies = text(
            client, phone, plan.get(question.id, "1 3" if question.type == "multi" else "1")
        )
    return replies


# ------------------------------------------------------------------------------ signatures


def test_unsigned_request_is_refused_and_leaves_no_trace(client, redis, caplog):
    caplog.set_level(logging.DEBUG)
    response = sms(client, PHONE, "SURVEY", signature="")
    assert response.status_code == 403
    response = sms(client, PHONE, "SURVEY", signature="bm90IGEgc2lnbmF0dXJl")
    assert response.status_code == 403
    assert redis.keys("*") == []
    assert "3055550123" not in caplog.text
    assert "rejected a webhook request" in caplog.text


def test_signature_for_another_url_is_refused(client, app):
    from twilio.request_validator import RequestValidator

    from bot.channels.simulator import twilio_params

    params = twilio_params(PHONE, "hi")
    token = app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    wrong = RequestValidator(token).compute_signature("https://evil.example/twilio/sms", params)
    response = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": wrong})
    assert response.status_code == 403


def test_signature_made_with_another_token_is_refused(client):
    from twilio.request_validator import RequestValidator

    from bot.channels.simulator import twilio_params

    params = twilio_params(PHONE, "hi")
    forged = RequestValidator("not-our-token").compute_signature(
        "https://bot.example.org/twilio/sms", params
    )
    response = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": forged})
    assert response.status_code == 403


def test_tampered_body_is_refused(client, app):
    from bot.channels.simulator import twilio_params

    params = twilio_params(PHONE, "1")
    signature = sign(app, "/twilio/sms", params)
    params["Body"] = "2"
    response = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_query_string_is_part_of_the_signed_url(client, app):
    from bot.channels.simulator import twilio_params

    params = twilio_params(PHONE, "hi")
    signature = sign(app, "/twilio/sms?channel=sms", params)
    ok = client.post(
        "/twilio/sms?channel=sms", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert ok.status_code == 200
    refused = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})
    assert refused.status_code == 403


def test_behind_a_trusted_proxy_the_forwarded_host_is_never_what_is_checked(settings_overrides):
    # The proxy may tell the scheme and the client's address, never the host: a client chooses
    # X-Forwarded-Host (tests/test_proxy.py covers PUBLIC_BASE_URL behind a proxy).
    from twilio.request_validator import RequestValidator

    from bot.channels.simulator import twilio_params

    app = create_app({**settings_overrides, "TRUST_PROXY": "1", "PUBLIC_BASE_URL": ""})
    client = app.test_client()
    params = twilio_params(PHONE, "hi")
    token = app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    signature = RequestValidator(token).compute_signature(
        "https://survey.coalition.org/twilio/sms", params
    )
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "survey.coalition.org"}
    response = client.post(
        "/twilio/sms", data=params, headers={"X-Twilio-Signature": signature, **forwarded}
    )
    assert response.status_code == 403
    # Without PUBLIC_BASE_URL (development) the request's own Host is what is checked.
    signature = RequestValidator(token).compute_signature("https://localhost/twilio/sms", params)
    response = client.post(
        "/twilio/sms",
        data=params,
        headers={"X-Twilio-Signature": signature, "X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 200
    app.extensions["surveybot"].redis.close()


def test_forwarded_headers_are_ignored_unless_trusted(client, app):
    from twilio.request_validator import RequestValidator

    from bot.channels.simulator import twilio_params

    params = twilio_params(PHONE, "hi")
    token = app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    signature = RequestValidator(token).compute_signature("https://evil.example/twilio/sms", params)
    response = client.post(
        "/twilio/sms",
        data=params,
        headers={
            "X-Twilio-Signature": signature,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "evil.example",
        },
    )
    assert response.status_code == 403


def test_signed_request_without_sender_is_a_clear_400(client, app):
    params = {"Body": "hi", "MessageSid": new_sid()}
    response = client.post(
        "/twilio/sms", data=params, headers={"X-Twilio-Signature": sign(app, "/twilio/sms", params)}
    )
    assert response.status_code == 400


# ------------------------------------------------------------------------------ conversations


def test_a_whole_survey_over_the_webhook_is_stored_anonymously(client, app, db):
    replies = take_survey(client)
    assert replies == [q_of(app).message("closing", "en")]
    assert responses(db) == []  # nothing written by the request itself
    run_jobs(app)
    [stored] = responses(db)
    assert stored.language == "en"
    assert stored.wave == "default"
    assert stored.survey == "community_safety"
    with Session(get_engine(db)) as session:
        answers = session.exec(select(Answer).where(Answer.response_id == stored.id)).all()
    chosen = sorted((a.question_id, a.option_id) for a in answers)
    assert chosen == sorted(
        [
            ("status", "citizen"),
            ("years_in_us", "lt5"),
            ("afraid_to_seek_help", "yes"),
            ("fear_reasons", "ice_collaboration"),
            ("fear_reasons", "language"),
            ("knows_deported", "none"),
            ("would_report_crime", "yes"),
        ]
    )


def test_spanish_and_creole_surveys_over_the_webhook(client, app, db):
    q = q_of(app)
    for phone, menu_choice, lang in (("+13055550001", "2", "es"), ("+13055550002", "3", "ht")):
        assert text(client, phone, "hello") == [language_prompt(q).text]
        assert text(client, phone, menu_choice) == [q.message("consent", lang)]
        replies = text(client, phone, "1")
        for _ in range(10):
            if replies == [q.message("closing", lang)]:
                break
            replies = text(client, phone, "2")  # "no" where asked: no follow-up question
        assert replies == [q.message("closing", lang)]
    run_jobs(app)
    assert sorted(r.language for r in responses(db)) == ["es", "ht"]


def test_completed_respondent_is_thanked_and_not_stored_twice(client, app, db):
    take_survey(client)
    replies = text(client, PHONE, "SURVEY")
    assert replies == [q_of(app).message("already_completed", "en")]
    run_jobs(app)
    assert len(responses(db)) == 1


def test_resume_within_the_session_lifetime(client, app, redis):
    q = q_of(app)
    text(client, PHONE, "ENCUESTA")
    text(client, PHONE, "1")
    text(client, PHONE, "4")  # status
    ttl = redis.ttl(keys.session(key_of(app)))
    assert 0 < ttl <= 72 * 3600
    # Days later (within 72 h) the respondent texts again: the pending question comes back.
    replies = text(client, PHONE, "ENCUESTA")
    assert replies == [
        q.message("resumed", "es"),
        render_question(q.question("years_in_us"), "es"),
    ]


def test_after_the_session_expires_a_text_starts_fresh(settings_overrides, redis):
    app = create_app({**settings_overrides, "SESSION_TTL_HOURS": str(1 / 3600)})  # one second
    client = app.test_client()
    q = q_of(app)
    text(client, PHONE, "SURVEY")
    text(client, PHONE, "1")
    session_key = keys.session(key_of(app))
    assert redis.exists(session_key)
    for _ in range(50):  # Redis expires the key on its own; wait for that, bounded
        if not redis.exists(session_key):
            break
        time.sleep(0.1)
    assert not redis.exists(session_key)
    assert text(client, PHONE, "1") == [language_prompt(q).text]
    app.extensions["surveybot"].redis.close()


def test_stop_opts_out_and_start_opts_back_in(client, app, redis, db):
    text(client, PHONE, "SURVEY")
    text(client, PHONE, "1")
    text(client, PHONE, "1")
    assert text(client, PHONE, "stop") == []
    assert not redis.exists(keys.session(key_of(app)))
    assert redis.exists(keys.opted_out(key_of(app)))
    assert text(client, PHONE, "SURVEY") == []  # nothing more is sent
    run_jobs(app)
    with Session(get_engine(db)) as session:
        assert [o.pseudonym for o in session.exec(select(OptOut))] == [key_of(app)]
    replies = text(client, PHONE, "START")
    assert replies[-1] == language_prompt(q_of(app)).text
    assert not redis.exists(keys.opted_out(key_of(app)))
    run_jobs(app)
    with Session(get_engine(db)) as session:
        assert session.exec(select(OptOut)).all() == []


@pytest.mark.parametrize(
    "body, media",
    [
        ("", False),
        ("", True),
        ("x" * 1700, False),
        ("🙂🙂🙂", False),
        ("你好，我想参加", False),
        ("\x00\x01\x02\x1b[31m", False),
        ("<Response><Message>hi</Message></Response>", False),
        ("&amp; ]]>", False),
    ],
)
def test_odd_bodies_get_a_reply_never_a_500(client, body, media):
    text(client, PHONE, "SURVEY")
    response = sms(client, PHONE, body, media=media)
    assert response.status_code == 200
    assert replies_of(response)


def test_the_request_path_needs_no_database(settings_overrides, redis):
    """With the database unreachable the bot still answers; storage waits in the inbox."""
    app = create_app(
        {**settings_overrides, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nowhere"}
    )
    client = app.test_client()
    assert take_survey(client) == [q_of(app).message("closing", "en")]
    state = app.extensions["surveybot"]
    assert state.queue.count == 0  # no job per response
    assert len(inbox_records(state.redis, state.settings, inbox.RESPONSE)) == 1
    app.extensions["surveybot"].redis.close()


# ------------------------------------------------------------------------------ status callbacks


def test_status_callbacks_are_counted_and_nothing_else_kept(client, app, redis):

    sid = new_sid()
    for status, code in (("sent", ""), ("delivered", ""), ("failed", "30003"), ("weird", "")):
        params = {
            "MessageSid": sid,
            "MessageStatus": status,
            "To": PHONE,
            "From": "+15005550006",
            "AccountSid": "AC" + "0" * 32,
            "ErrorCode": code,
        }
        response = client.post(
            "/twilio/sms/status",
            data=params,
            headers={"X-Twilio-Signature": sign(app, "/twilio/sms/status", params)},
        )
        assert response.status_code == 204
    counts = redis.hgetall(keys.delivery_stats(bot_clock.today().isoformat()))
    assert counts == {
        b"sent": b"1",
        b"delivered": b"1",
        b"failed": b"1",
        b"error:30003": b"1",
        b"other": b"1",
    }
    dump = b" ".join(redis.keys("*"))
    assert sid.encode() not in dump and b"3055550123" not in dump


def test_unsigned_status_callback_is_refused(client, redis):
    response = client.post(
        "/twilio/sms/status", data={"MessageSid": new_sid(), "MessageStatus": "sent"}
    )
    assert response.status_code == 403
    assert redis.keys("*") == []
