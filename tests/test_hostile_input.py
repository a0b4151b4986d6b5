"""Hostile input: all of Unicode thrown at the engine, the SMS webhook and the voice routes.

Characters such as '፩' or '᧚' pass `str.isdigit()` but `int()` refuses them; they once made
142 of 10,000 signed hostile requests a server error. Texts here are drawn from explicit
Unicode categories and sampled code points (not only hypothesis's default text): the decimal
digits of every script (Nd), other numerics (No, Nl), fullwidth forms, combining marks, format
and control characters.
"""

from __future__ import annotations

import itertools
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import hostile
from bot.core.engine import Channel, Inbound, step
from bot.core.engine.replies import parse_answer
from bot.core.questionnaire import QuestionType, load_questionnaire
from bot.core.text import is_number, normalize, read_number
from tests.test_engine_properties import sessions
from tests.utils import new_sid, replies_of, sign, sms
from tests.voice_utils import Call

Q = load_questionnaire()
PHONE = "+13055550123"
_numbers = itertools.count(100)


def fresh_phone() -> str:
    """A number no example has used yet: each example starts its own conversation."""
    return f"+1305555{next(_numbers):04d}"


NUMERIC = ("Nd", "No", "Nl")
MARKS = ("Mn", "Mc", "Me")
# Code points picked by hand: numerics isdigit() accepts and int() refuses, digits of other
# scripts, fullwidth and circled digits, combining keycaps, joiners and direction marks.
SAMPLED = "፩᧚²³¹①⑳⓵❶➊٣३໓᠓𝟙１９⃣\u0301\u20e3\u200d\u202e\ufeff\u0000\x85Ⅻↂ〇"

characters = st.one_of(
    st.characters(categories=NUMERIC),
    st.characters(categories=MARKS),
    st.characters(categories=("Cf", "Cc", "Co", "Zs", "Zl", "Zp")),
    st.characters(min_codepoint=0xFF00, max_codepoint=0xFFEF),  # fullwidth and halfwidth forms
    st.sampled_from(SAMPLED),
    st.sampled_from("0123456789 ,y#*"),
    st.characters(exclude_categories=("Cs",)),
)
hostile_texts = st.one_of(
    st.text(characters, max_size=40),
    st.builds(lambda ch, n: ch * n, st.sampled_from("⑳9٩²፩"), st.sampled_from([1601, 3300])),
    st.text(max_size=60),
)


# ------------------------------------------------------------------------------ reading numbers


def test_only_ascii_digits_are_numbers_and_every_scripts_decimal_digits_are_read_as_them():
    assert "፩".isdigit() and not is_number("፩") and read_number("፩") is None
    assert "᧚".isdigit() and not is_number("᧚")
    assert normalize("٣") == "3" and normalize("३") == "3" and normalize("１３") == "13"
    assert read_number("1" * 10) is None  # no answer is ten digits long
    question = next(q for q in Q.questions if q.type is QuestionType.CHOICE)
    assert parse_answer(Q, question, "٢", "en") == question.options[1].id
    assert parse_answer(Q, question, "፪", "en") is None


@pytest.mark.parametrize("category", ["Nd", "No", "Nl"])
def test_every_numeric_character_of_a_category_is_read_without_raising(category):
    numerics = [chr(p) for p in range(0x110000) if unicodedata.category(chr(p)) == category]
    for question in Q.questions:
        for ch in numerics:
            parse_answer(Q, question, ch, "en")
            parse_answer(Q, question, f"1{ch} 3", "es")


# ------------------------------------------------------------------------------ the engine


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    session=sessions(),
    texts=st.lists(hostile_texts, min_size=1, max_size=6),
    channel=st.sampled_from(list(Channel)),
    as_keys=st.booleans(),
)
def test_the_engine_never_raises_on_any_unicode(session, texts, channel, as_keys):
    for text in texts:
        keys = as_keys and channel is Channel.VOICE
        inbound = Inbound(text="" if keys else text, keys=text if keys else None, channel=channel)
        result = step(Q, session, inbound)
        session = result.session


# ------------------------------------------------------------------------------ the webhooks


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(bodies=st.lists(hostile_texts, min_size=1, max_size=4))
def test_the_sms_webhook_answers_any_unicode_body(client, bodies):
    phone = fresh_phone()
    for start in ("SURVEY", "1"):  # reach the questions, where answers are read as numbers
        sms(client, phone, start)
    for body in bodies:
        response = sms(client, phone, body)
        assert response.status_code == 200, (body, response.data)
        replies_of(response)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    inputs=st.lists(
        st.tuples(st.sampled_from(["Digits", "SpeechResult"]), hostile_texts), max_size=4
    )
)
def test_the_voice_routes_answer_any_unicode_keys_or_speech(client, inputs):
    call = Call(client, fresh_phone())
    call.start()
    for key in ("1", "1"):  # language, consent
        call.press(key)
    for name, value in inputs:
        if call.turn.gather is None:  # the call ended (finished, or too many misses)
            break
        call._gather(**{name: value})  # a 200 with TwiML that listens or hangs up


def test_a_few_hundred_signed_hostile_requests_get_no_server_error(app):
    """The CI-sized run of bench/hostile.py (the bench sends 10,000)."""
    settings_ = app.extensions["surveybot"].settings
    requests = hostile.hostile_requests(400, seed=12, auth_token=settings_.TWILIO_AUTH_TOKEN)
    assert requests[0].form["MessageSid"] != new_sid()
    assert sign(app, requests[0].path, requests[0].form) == requests[0].signature
    outcome = hostile.send(app.test_client(), requests)
    assert outcome.server_errors == 0, outcome.errors
    assert outcome.statuses[200] >= 380  # answered, not refused
