"""A conversation that feels natural (issue 13, items 4-7), through the signed webhooks: a
pause, a switch from a call to texts, short hints, the wave's own start words and answers
said in a sentence."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlmodel import Session

from bot.core.render import render_question
from bot.core.voice_prompts import prompt_speech
from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.privacy import pseudonym
from bot.outreach.waves import create_wave, open_wave
from tests.test_voice import _answers
from tests.test_webhook import responses
from tests.utils import opened_value, run_jobs, text
from tests.voice_utils import Call

PHONE = "+13055550188"
KEY = "test-pseudonym-key-0123456789abcdef"


@pytest.fixture
def session(db):
    with Session(get_engine(db)) as value:
        yield value


def q_of(app):
    return app.extensions["surveybot"].questionnaire


def envelope_of(redis, phone=PHONE) -> dict:
    raw = redis.get(keys.session(pseudonym(KEY, phone)))
    return opened_value(SimpleNamespace(PSEUDONYM_KEY=KEY), phone, raw)


# ------------------------------------------------------------------ 4. welcome back


def test_a_text_after_a_pause_is_welcomed_back(app, client, redis, clock):
    q = q_of(app)
    text(client, PHONE, "ENCUESTA")
    text(client, PHONE, "1")
    status = render_question(q.question("status"), "es")
    # Within the hour, a stray text is a wrong reply.
    assert text(client, PHONE, "hola")[-1] == status
    pause(redis, hours=3)
    assert text(client, PHONE, "hola") == [q.message("resumed", "es"), status]
    # The session keeps no time: the pause is read from its key's remaining life.
    envelope = envelope_of(redis)
    assert "hour" not in envelope and envelope["via"] == "sms"
    raw = redis.get(keys.session(pseudonym(KEY, PHONE)))
    assert b"sms" not in raw
    # An answer after a pause is an answer.
    pause(redis, hours=5)
    assert text(client, PHONE, "1") == [render_question(q.question("years_in_us"), "es")]


def pause(redis, hours: int, phone: str = PHONE) -> None:
    """As if `hours` passed since the conversation's last step: Redis's clock does not follow
    the tests' fixed calendar, so the session key's remaining life is shortened instead."""
    key = keys.session(pseudonym(KEY, phone))
    redis.pexpire(key, redis.pttl(key) - hours * 3600 * 1000)


def test_texting_after_a_call_is_welcomed_back(app, client, redis):
    q = q_of(app)
    call = Call(client, PHONE)
    call.start()
    call.press("3")  # Kreyol
    call.press("1")  # consent
    call.press("1")  # status: citizen
    call.hang_up()
    assert envelope_of(redis)["via"] == "voice"
    years = render_question(q.question("years_in_us"), "ht")
    assert text(client, PHONE, "bonjou") == [q.message("resumed", "ht"), years]
    # From now on the thread is a text thread: a wrong reply gets the hint.
    assert text(client, PHONE, "bonjou") == [q.message("invalid", "ht", last=3), years]


# ------------------------------------------------------------------ 5. short hints


def test_out_of_range_and_consent_hints_over_the_webhook(app, client):
    text(client, PHONE, "SONDAJ")
    assert text(client, PHONE, "petet") == ["Reponn 1 pou kòmanse sondaj la oswa 2 pou di non."]
    text(client, PHONE, "1")
    assert text(client, PHONE, "9") == ["Reponn 1 rive 5."]
    other = "+13055550189"
    text(client, other, "SURVEY")
    text(client, other, "1")
    text(client, other, "1")  # status
    text(client, other, "3")  # years
    text(client, other, "yes")
    assert text(client, other, "2 8") == ["Reply with numbers 1 to 5, like 1 3."]


def test_comenzar_after_parar_answers_in_spanish_only(app, client, redis):
    q = q_of(app)
    text(client, PHONE, "ENCUESTA")
    assert text(client, PHONE, "PARAR") == []
    replies = text(client, PHONE, "COMENZAR")
    assert replies == [q.message("opted_in", "es"), q.message("consent", "es")]
    assert not any(q.message("opted_in", lang) in replies[0] for lang in ("en", "ht"))


# ------------------------------------------------------------------ 6. the wave's words


def test_decline_and_opt_in_name_the_waves_own_keyword(app, client, session, redis):
    create_wave(session, name="general", default=True)
    open_wave(session, redis, "general", allow_placeholders=True)
    words = {"en": ["CHECKUP"], "es": ["CHEQUEO"], "ht": ["TCHEKE"]}
    create_wave(session, name="chequeo", start_keywords=words)
    open_wave(session, redis, "chequeo", allow_placeholders=True)
    text(client, PHONE, "CHEQUEO")
    [declined] = text(client, PHONE, "2")
    assert "CHEQUEO" in declined and "ENCUESTA" not in declined
    # The word it names starts that wave again (its consent, not the general wave's flow).
    assert text(client, PHONE, "CHEQUEO") == [q_of(app).message("consent", "es")]
    assert envelope_of(redis)["wave"] == "chequeo"
    other = "+13055550190"
    text(client, other, "TCHEKE")
    [declined] = text(client, other, "non")
    assert "TCHEKE" in declined and "SONDAJ" not in declined


def test_opt_in_names_the_keyword_of_the_wave_it_begins(app, client, session, redis):
    words = {"en": ["CHECKUP"], "es": ["CHEQUEO"], "ht": ["TCHEKE"]}
    create_wave(session, name="chequeo", start_keywords=words, default=True)
    open_wave(session, redis, "chequeo", allow_placeholders=True)
    text(client, PHONE, "CHEQUEO")
    text(client, PHONE, "PARAR")
    opted_in, consent = text(client, PHONE, "COMENZAR")
    assert "CHEQUEO" in opted_in and "ENCUESTA" not in opted_in
    assert set(re.findall(r"[A-Z]{4,}", opted_in)) == {"CHEQUEO"}


# ------------------------------------------------------------------ 7. speech


def test_a_call_answered_in_sentences_and_number_words(app, client, db):
    call = Call(client, PHONE)
    call.start()
    call.press("1")
    call.press("1")
    hints = call.turn.gather["hints"]
    assert not re.search(r"[().,/$!?]", hints.replace(", ", " "))
    call.say("I'm a U.S. citizen.")
    call.say("More than ten years.")
    call.say("no")
    call.say("two")  # knows_deported: one person
    turn = call.say("Not sure.")
    assert turn.hung_up
    run_jobs(app)
    [stored] = responses(db)
    rows = _answers(db, stored.id)
    assert rows["status"] == ["citizen"] and rows["years_in_us"] == ["gt10"]
    assert rows["knows_deported"] == ["one"] and rows["would_report_crime"] == ["not_sure"]


def test_spanish_speech_in_sentences(app, client):
    q = q_of(app)
    call = Call(client, PHONE)
    call.start()
    call.press("2")
    call.press("1")
    turn = call.say("Soy ciudadano de Estados Unidos.")
    assert turn.text == prompt_speech(q, "question.years_in_us", "es")
    turn = call.say("Más de diez años.")
    assert turn.text == prompt_speech(q, "question.afraid_to_seek_help", "es")
    turn = call.say("dos")
    assert turn.text == prompt_speech(q, "question.knows_deported", "es")
