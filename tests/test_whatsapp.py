"""WhatsApp through Twilio's messaging webhook: the same survey, languages, keywords, consent,
resume and dedup as a text; buttons; media refused politely and never fetched; the 24-hour
window; opt-outs honoured across channels. Webhooks are signed as Twilio signs them; Redis and
the database are real; Twilio's REST API is faked at its HTTP boundary (tests/fake_twilio.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace

import pytest
from rq.registry import ScheduledJobRegistry
from sqlmodel import Session, select

from bot.core.engine import language_prompt
from bot.core.render import render_question
from bot.infra import keys, whatsapp_window
from bot.infra.db import get_engine
from bot.infra.exceptions import OutsideWhatsAppWindow
from bot.infra.models import Answer, Response
from bot.infra.outbound import send_sms
from bot.infra.privacy import e164, pseudonym
from bot.infra.queues import get_queue
from bot.outreach.invitations import queue_invitations
from bot.outreach.waves import create_wave, open_wave
from tests.conftest import FIXED_NOW
from tests.fake_twilio import FakeTwilio
from tests.test_privacy import database_dump, redis_dump
from tests.utils import (
    PROFILE_NAME,
    new_sid,
    opened_value,
    run_jobs,
    run_queued,
    sms_status,
    text,
    wa_text,
)
from workers import context

PHONE = "+13055550123"
DAY = 24 * 3600


def q_of(app):
    return app.extensions["surveybot"].questionnaire


def settings_of(app):
    return app.extensions["surveybot"].settings


def p_of(app, sender=PHONE) -> str:
    return pseudonym(settings_of(app).PSEUDONYM_KEY, sender)


def responses(url) -> list[Response]:
    with Session(get_engine(url)) as session:
        return list(session.exec(select(Response)))


def answers(url) -> list[tuple[str, str]]:
    with Session(get_engine(url)) as session:
        return sorted((a.question_id, a.option_id) for a in session.exec(select(Answer)))


def pending(app, sender=PHONE) -> dict:
    """The conversation in flight, opened as the bot opens it."""
    redis = app.extensions["surveybot"].redis
    raw = redis.get(keys.session(p_of(app, sender)))
    return opened_value(settings_of(app), sender, raw)["session"]


# ------------------------------------------------------------------------- the same survey


@pytest.mark.parametrize(
    ("phone", "start", "lang"),
    [
        ("+13055550101", "SURVEY", "en"),
        ("+17865550102", "ENCUESTA", "es"),
        ("+50934125678", "SONDAJ", "ht"),
    ],
)
def test_a_whole_survey_over_whatsapp_in_each_language(client, app, db, phone, start, lang):
    q = q_of(app)
    assert wa_text(client, phone, start) == [q.message("consent", lang)]
    replies = wa_text(client, phone, "1")
    assert replies == [render_question(q.questions[0], lang)]
    for _ in range(len(q.questions)):
        if replies == [q.message("closing", lang)]:
            break
        replies = wa_text(client, phone, "2")  # "no" where asked: no follow-up question
    assert replies == [q.message("closing", lang)]
    assert responses(db) == []  # the request itself writes nothing
    run_jobs(app)
    [stored] = responses(db)
    assert stored.language == lang
    assert ("status", "lpr") in answers(db)
    # Done: the same number on WhatsApp or by text is thanked, not asked again.
    assert wa_text(client, phone, start) == [q.message("already_completed", lang)]
    assert text(client, phone, start) == [q.message("already_completed", lang)]


def test_the_language_menu_and_help_work_on_whatsapp(client, app):
    q = q_of(app)
    assert wa_text(client, PHONE, "hello") == [language_prompt(q).text]
    assert wa_text(client, PHONE, "3") == [q.message("consent", "ht")]
    replies = wa_text(client, PHONE, "HELP")
    assert replies[0] == q.message("help", "ht")


def test_one_number_has_one_conversation_by_text_and_on_whatsapp(client, app):
    q = q_of(app)
    assert text(client, PHONE, "ENCUESTA") == [q.message("consent", "es")]
    assert wa_text(client, PHONE, "1") == [render_question(q.question("status"), "es")]
    assert text(client, PHONE, "4") == [render_question(q.question("years_in_us"), "es")]
    assert pending(app)["answers"] == {"status": "undocumented"}
    # Resume: a later WhatsApp message brings the pending question back.
    assert wa_text(client, PHONE, "ENCUESTA") == [
        q.message("resumed", "es"),
        render_question(q.question("years_in_us"), "es"),
    ]


def test_a_retried_whatsapp_message_gets_the_same_reply_and_counts_once(client, app):
    q = q_of(app)
    wa_text(client, PHONE, "SURVEY")
    sid = new_sid()
    first = wa_text(client, PHONE, "1", sid=sid)
    again = wa_text(client, PHONE, "1", sid=sid)  # Twilio's retry of the same message
    assert first == again == [render_question(q.question("status"), "en")]
    assert pending(app)["question"] == "status"


def test_a_whatsapp_user_id_gets_a_pseudonym_of_the_whole_id(client, app):
    key = settings_of(app).PSEUDONYM_KEY
    # A phone number is one identity whatever its channel and however it is written...
    assert {e164(n) for n in ("whatsapp:+13055550123", "+1 (305) 555-0123", PHONE)} == {PHONE}
    # ...a sender id that is not a phone number is never reduced to its digits.
    one, other = "whatsapp:US.13491208655302741918", "whatsapp:CA.13491208655302741918"
    digits = "+13491208655302741918"
    assert len({pseudonym(key, one), pseudonym(key, other), pseudonym(key, digits)}) == 3
    q = q_of(app)
    assert wa_text(client, PHONE, "ENCUESTA", From=one, WaId="US.13491208655302741918") == [
        q.message("consent", "es")
    ]
    assert wa_text(client, PHONE, "hello", From=other, WaId="CA.13491208655302741918") == [
        language_prompt(q).text
    ]
    assert (pending(app, one)["stage"], pending(app, one)["lang"]) == ("consent", "es")
    assert (pending(app, other)["stage"], pending(app, other)["lang"]) == ("language", None)
    redis = app.extensions["surveybot"].redis
    assert not redis.exists(keys.session(pseudonym(key, digits)))


def test_every_field_twilio_sends_for_whatsapp_is_accepted(client, app):
    q = q_of(app)
    extra = {
        "ProfileName": "Ti Jàn 🌺 (manman)",
        "Forwarded": "true",
        "FrequentlyForwarded": "true",
        "ReferralBody": "Take the survey",
        "ReferralHeadline": "Community safety",
        "ReferralSourceId": "120209876543210",
        "ReferralSourceType": "ad",
        "ReferralSourceUrl": "https://fb.me/abc",
        "ReferralCtwaClid": "ARAkLkA8rmlFeiCktEJQ",
        "ReferralNumMedia": "0",
        "MessagingServiceSid": "MG" + "2" * 32,
        "ChannelMetadata": '{"type":"whatsapp","data":{"context":{"ProfileName":"Ti Jan"}}}',
    }
    assert wa_text(client, PHONE, "ENCUESTA", **extra) == [q.message("consent", "es")]
    replies = wa_text(client, PHONE, "", button=("not/an:option", "Sí"), **extra)
    assert replies == [render_question(q.question("status"), "es")]


# --------------------------------------------------------------------------------- buttons


def test_a_button_payload_naming_an_option_answers_with_it(client, app, db):
    q = q_of(app)
    wa_text(client, PHONE, "SURVEY")
    wa_text(client, PHONE, "1")
    # The button's text alone would not be understood: its payload names the option.
    replies = wa_text(client, PHONE, "", button=("undocumented", "✅"))
    assert replies == [render_question(q.question("years_in_us"), "en")]
    assert pending(app)["answers"] == {"status": "undocumented"}


def test_a_button_answers_a_question_that_takes_several_options(client, app):
    q = q_of(app)
    for body in ("SURVEY", "1", "1", "1", "1"):  # consent, status, years, afraid: yes
        replies = wa_text(client, PHONE, body)
    assert replies == [render_question(q.question("fear_reasons"), "en")]
    replies = wa_text(client, PHONE, "", button=("deportation", "👉"))
    assert replies == [render_question(q.question("knows_deported"), "en")]
    assert pending(app)["answers"]["fear_reasons"] == ["deportation"]


def test_a_payload_that_names_no_option_falls_back_to_the_button_text(client, app):
    q = q_of(app)
    wa_text(client, PHONE, "SURVEY")
    wa_text(client, PHONE, "1")
    wa_text(client, PHONE, "1")  # status
    # An old button (another question's option) or a foreign payload: its text is read.
    replies = wa_text(client, PHONE, "", button=("citizen", "3"))
    assert replies == [render_question(q.question("afraid_to_seek_help"), "en")]
    assert pending(app)["answers"] == {"status": "citizen", "years_in_us": "gt10"}
    replies = wa_text(client, PHONE, "", button=("menu:7", "maybe later"))
    assert replies[-1] == render_question(q.question("afraid_to_seek_help"), "en")
    assert "afraid_to_seek_help" not in pending(app)["answers"]


# ----------------------------------------------------------------------------------- media


@pytest.mark.parametrize(
    "kind",
    [
        {"media": "audio"},
        {"media": "image"},
        {"media": "sticker"},
        # A shared place: its label, if Twilio sends it as Body, is no answer ("1 ..." is not 1).
        {
            "MessageType": "location",
            "Latitude": "25.7617",
            "Longitude": "-80.1918",
            "Body": "1 Biscayne Blvd",
        },
    ],
    ids=["voice note", "image", "sticker", "location"],
)
def test_media_gets_a_polite_reply_in_their_language_and_is_never_fetched(
    settings_overrides, redis, kind
):
    from bot import create_app

    with FakeTwilio() as fake:
        app = create_app(
            {
                **settings_overrides,
                "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                "TWILIO_API_BASE_URL": fake.url,
                "TWILIO_DELETE_MESSAGES": "1",
            }
        )
        context.configure(settings_of(app))
        client = app.test_client()
        q = q_of(app)
        wa_text(client, PHONE, "ENCUESTA")
        wa_text(client, PHONE, "1")
        media_url = f"{fake.url}/2010-04-01/Accounts/AC{'0' * 32}/Media/ME{uuid.uuid4().hex}"
        extra = {**kind, **({"MediaUrl0": media_url} if "media" in kind else {})}
        replies = wa_text(client, PHONE, "", **extra)
        assert replies == [
            q.message("text_only", "es"),
            render_question(q.question("status"), "es"),
        ]
        assert pending(app)["answers"] == {}
        # Typed answers still work after it.
        assert wa_text(client, PHONE, "4") == [render_question(q.question("years_in_us"), "es")]
        run_jobs(app)
        # Only deletions of message records reached Twilio: no media was ever fetched.
        assert all(r["method"] == "DELETE" for r in fake.requests)
        assert not any("/Media/" in r["path"] for r in fake.requests)
        for _, value in redis_dump(redis):
            assert not any(t in value for t in (b"/Media/", b"25.7617", b"Biscayne"))
        context.configure(None)
        app.extensions["surveybot"].redis.close()


# ------------------------------------------------------------------------ the 24-hour window


def test_each_whatsapp_message_renews_the_window_for_a_day(client, app, redis, clock):
    window = keys.whatsapp_window(p_of(app))
    text(client, PHONE, "SURVEY")  # a text opens no WhatsApp window
    assert redis.ttl(window) == -2
    wa_text(client, PHONE, "1")
    assert redis.get(window) == b"1"
    assert DAY - 2 <= redis.ttl(window) <= DAY  # FIXED_NOW is on the hour
    clock.set(FIXED_NOW + dt.timedelta(minutes=32, seconds=10))
    wa_text(client, PHONE, "1")
    # Renewed, to end on the hour before the 24 hours run out: the expiry dates it to the hour.
    expected = DAY - (32 * 60 + 10)
    assert expected - 2 <= redis.ttl(window) <= expected
    assert whatsapp_window.is_open(redis, p_of(app))


@pytest.mark.parametrize("minutes", [0, 1, 29, 59, 60, 61, 12 * 60 + 59])
def test_the_window_ends_on_the_hour_within_the_24_hours(minutes):
    moment = FIXED_NOW + dt.timedelta(minutes=minutes, seconds=minutes % 7)
    seconds = whatsapp_window.window_seconds(moment)
    assert DAY - 3600 < seconds <= DAY
    closes = moment + dt.timedelta(seconds=seconds)
    assert (closes.minute, closes.second) == (0, 0)


def test_free_form_text_is_sent_only_inside_the_window(client, app, redis):
    settings, p = settings_of(app), p_of(app)
    with pytest.raises(OutsideWhatsAppWindow):
        whatsapp_window.require_open(redis, p)
    with pytest.raises(OutsideWhatsAppWindow):
        send_sms(settings, redis, "whatsapp:" + PHONE, "Reminder")
    assert redis.llen(keys.simulator_outbox(p)) == 0
    wa_text(client, PHONE, "SURVEY")
    whatsapp_window.require_open(redis, p)
    send_sms(settings, redis, "whatsapp:" + PHONE, "Reminder")  # to the simulator here
    assert redis.llen(keys.simulator_outbox(p)) == 1
    send_sms(settings, redis, PHONE, "A text needs no window")
    assert redis.llen(keys.simulator_outbox(p)) == 2


def test_error_63016_is_counted_closes_the_window_and_is_not_retried(client, app, redis):
    p = p_of(app)
    wa_text(client, PHONE, "SURVEY")
    assert whatsapp_window.is_open(redis, p)
    sms_status(client, new_sid(), "failed", to="whatsapp:" + PHONE, code="63016")
    assert not whatsapp_window.is_open(redis, p)
    day = FIXED_NOW.date().isoformat()
    stats = {k.decode(): int(v) for k, v in redis.hgetall(keys.delivery_stats(day)).items()}
    assert stats == {"failed": 1, "error:63016": 1}
    queue = get_queue(redis)
    assert queue.count == 0 and ScheduledJobRegistry(queue=queue).count == 0  # no retry
    # The same error for a text (never a WhatsApp address) touches no window.
    wa_text(client, PHONE, "1")
    sms_status(client, new_sid(), "failed", to=PHONE, code="63016")
    assert whatsapp_window.is_open(redis, p)


# ------------------------------------------------------------------------------- opt-outs


@pytest.mark.parametrize(("word", "lang"), [("PARAR", "es"), ("KANPE", "ht"), ("STOP", None)])
def test_stop_on_whatsapp_is_confirmed_in_the_words_language(client, app, redis, word, lang):
    q = q_of(app)
    replies = wa_text(client, PHONE, word)  # no conversation yet: the word says the language
    expected = q.message("opted_out", lang) if lang else None
    if lang is None:  # STOP names no language: the confirmation in all three
        assert len(replies) == 1 and all(
            q.message("opted_out", x) in replies[0] for x in "en es ht".split()
        )
    else:
        assert replies == [expected]
    assert redis.get(keys.opted_out(p_of(app))) == b"1"
    # By SMS, Twilio's Advanced Opt-Out confirms: the bot sends nothing.
    assert text(client, "+13055550177", word) == []


@pytest.mark.parametrize("word", ["STOP", "PARAR", "KANPE", "stop"])
def test_stop_on_whatsapp_is_honoured_for_sms_invitations(client, app, db, redis, word):
    p = p_of(app)
    wa_text(client, PHONE, "SURVEY")
    q = q_of(app)
    # Twilio confirms a STOP by SMS only: on WhatsApp the bot does, in the conversation's
    # language (English here: SURVEY started it).
    assert wa_text(client, PHONE, word) == [q.message("opted_out", "en")]
    assert redis.get(keys.opted_out(p)) == b"1"
    assert not redis.exists(keys.session(p))
    # Texts and WhatsApp messages alike get nothing until START.
    assert text(client, PHONE, "SURVEY") == []
    assert wa_text(client, PHONE, "hola") == []

    with Session(get_engine(db)) as session:
        create_wave(session, name="summer-2026", title="Summer 2026")
        open_wave(session, redis, "summer-2026", allow_placeholders=True)
    with FakeTwilio() as fake:
        settings = replace(
            settings_of(app),
            TWILIO_ACCOUNT_SID="AC" + "1" * 32,
            TWILIO_MESSAGING_SERVICE_SID="MG" + "2" * 32,
            TWILIO_API_BASE_URL=fake.url,
            SEND_RATE_PER_SECOND=1000.0,
        )
        context.configure(settings)
        queue_invitations(
            settings,
            redis,
            get_queue(redis),
            wave="summer-2026",
            numbers=[PHONE, "+17865550188"],
            language="en",
        )
        run_queued(redis, settings)
        assert [r["form"]["To"] for r in fake.requests if r["method"] == "POST"] == ["+17865550188"]
    stats = {k.decode(): int(v) for k, v in redis.hgetall(keys.invite_stats("summer-2026")).items()}
    assert stats["opted_out"] == 1 and stats["sent"] == 1
    # START by text opts back in, on every channel.
    assert text(client, PHONE, "START")
    assert not redis.exists(keys.opted_out(p))
    assert wa_text(client, PHONE, "SURVEY")


# ------------------------------------------------------------------------------ identifiers


def test_profile_name_and_wa_id_reach_nothing_at_rest(client, app, db, redis, caplog):
    caplog.set_level("DEBUG")
    q = q_of(app)
    wa_text(client, PHONE, "SURVEY")
    replies = wa_text(client, PHONE, "1")
    for _ in range(len(q.questions)):
        if replies == [q.message("closing", "en")]:
            break
        replies = wa_text(client, PHONE, "1")
    run_jobs(app)
    assert len(responses(db)) == 1
    blobs = [v for pair in redis_dump(redis) for v in pair]
    rows = [str(v) for table in database_dump(db).values() for row in table for v in row]
    logs = [str(r.__dict__) for r in caplog.records]
    assert blobs and rows and logs, "the scan must see something"
    for needle in (PROFILE_NAME, "Dorcéus", PHONE[1:]):
        assert not any(needle.encode() in blob for blob in blobs), f"{needle!r} in Redis"
        assert not any(needle in row for row in rows), f"{needle!r} in the database"
        assert not any(needle in line for line in logs), f"{needle!r} in the logs"
