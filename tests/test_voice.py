"""The phone channel: whole calls through the signed voice routes, in every language, by
keypad and by speech, with hang-ups, resumes (also from a text thread), bad input and retries.
Every TwiML answer is checked by `check_twiml` (verbs, <Gather> attributes, languages Twilio
accepts, voices that speak their language)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from sqlmodel import Session

from bot.channels.voice import call_twiml
from bot.core.engine import Reply, Stage, Step
from bot.core.engine import Session as ConversationSession
from bot.core.questionnaire import Questionnaire, QuestionType
from bot.core.voice_prompts import FALLBACK_VOICE, SAY_VOICES, all_prompts, prompt_speech
from bot.infra import clock as bot_clock
from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.privacy import pseudonym
from bot.outreach.waves import close_wave, create_wave, open_wave
from tests.test_webhook import responses
from tests.utils import opened_value, run_jobs, text
from tests.voice_utils import Call, check_twiml

CALLER = "+13055550177"
KEY = "test-pseudonym-key-0123456789abcdef"


def q_of(app) -> Questionnaire:
    return app.extensions["surveybot"].questionnaire


def spoken(q: Questionnaire, prompt: str, lang: str) -> str:
    return prompt_speech(q, prompt, lang)


def session_of(redis, caller=CALLER):
    raw = redis.get(keys.session(pseudonym(KEY, caller)))
    envelope = opened_value(SimpleNamespace(PSEUDONYM_KEY=KEY), caller, raw)
    return envelope["session"] if envelope else None


def answer_all(call: Call, q: Questionnaire, lang: str, plan: dict[str, str]) -> None:
    """Answer each question the bot asks with the plan's keys (default 1, or 1 3 # for multi)."""
    for _ in range(len(q.questions) + 1):
        asked = next(
            (x for x in q.questions if spoken(q, f"question.{x.id}", lang) in call.turn.text),
            None,
        )
        if asked is None:
            return
        default = "13#" if asked.type is QuestionType.MULTI else "1"
        call.press(plan.get(asked.id, default))
    pytest.fail("the call never ended")


# ------------------------------------------------------------------------- whole calls


@pytest.mark.parametrize(
    ("lang", "menu_key", "expected"),
    [
        ("en", "1", {"status": "citizen", "fear_reasons": ["ice_collaboration", "language"]}),
        ("es", "2", {"status": "undocumented", "fear_reasons": ["deportation"]}),
        ("ht", "3", {"status": "lpr", "fear_reasons": ["ice_collaboration", "other"]}),
    ],
)
def test_a_whole_call_by_keypad_stores_the_answers(app, client, db, lang, menu_key, expected):
    q = q_of(app)
    call = Call(client, CALLER)
    turn = call.start()
    for each in q.languages:
        assert spoken(q, "language_prompt", each) in turn.text
    assert turn.gather["input"] == "dtmf"  # no language known yet: keys only

    turn = call.press(menu_key)
    assert turn.text == spoken(q, "message.consent", lang)
    turn = call.press("1")
    assert turn.text == spoken(q, "question.status", lang)
    status_key = str([o.id for o in q.question("status").options].index(expected["status"]) + 1)
    picks = "".join(
        str([o.id for o in q.question("fear_reasons").options].index(r) + 1)
        for r in expected["fear_reasons"]
    )
    answer_all(call, q, lang, {"status": status_key, "fear_reasons": picks + "#"})
    assert call.turn.hung_up
    assert call.turn.text == spoken(q, "message.closing", lang)
    assert call.hang_up() == 204

    run_jobs(app)
    [stored] = responses(db)
    assert stored.language == lang
    rows = _answers(db, stored.id)
    assert rows["status"] == [expected["status"]]
    assert sorted(rows["fear_reasons"]) == sorted(expected["fear_reasons"])
    assert rows["afraid_to_seek_help"] == ["yes"]


def _answers(url, response_id) -> dict[str, list[str]]:
    from sqlmodel import select

    from bot.infra.models import Answer

    with Session(get_engine(url)) as session:
        rows = session.exec(select(Answer).where(Answer.response_id == response_id)).all()
    out: dict[str, list[str]] = {}
    for row in rows:
        if not row.skipped:
            out.setdefault(row.question_id, []).append(row.option_id)
    return out


def test_haitian_creole_is_read_in_french_until_recorded_then_played(
    app, client, settings_overrides, tmp_path, redis
):
    q = q_of(app)
    call = Call(client, CALLER)
    call.start()
    # No recording ships: Kreyòl prompts are read by the French fallback voice.
    turn = call.press("3")
    assert turn.said == [(spoken(q, "message.consent", "ht"), FALLBACK_VOICE.language)]
    assert turn.gather["input"] == "dtmf"  # Twilio recognizes no Kreyòl speech

    # With the recordings in VOICE_AUDIO_DIR, each one is played from the app's audio route.
    audio = tmp_path / "audio"
    (audio / "ht").mkdir(parents=True)
    (audio / "ht" / "consent.mp3").write_bytes(b"ID3 fake mp3 consent")
    (audio / "ht" / "status.mp3").write_bytes(b"ID3 fake mp3 status")
    from bot import create_app

    recorded = create_app({**settings_overrides, "VOICE_AUDIO_DIR": str(audio)})
    other = Call(recorded.test_client(), "+13055550178")
    other.start()
    turn = other.press("3")
    url = "https://bot.example.org/twilio/voice/audio/ht/consent.mp3"
    assert turn.said == [(url, "play")]
    turn = other.press("1")
    assert turn.said == [("https://bot.example.org/twilio/voice/audio/ht/status.mp3", "play")]
    turn = other.press("7")  # the "invalid" prompt has no recording yet: French voice
    assert turn.said[0] == (spoken(q, "message.invalid", "ht"), FALLBACK_VOICE.language)

    with recorded.test_client().get("/twilio/voice/audio/ht/consent.mp3") as fetched:
        assert fetched.status_code == 200 and fetched.data == b"ID3 fake mp3 consent"
    assert recorded.test_client().get("/twilio/voice/audio/ht/missing.mp3").status_code == 404
    assert recorded.test_client().get("/twilio/voice/audio/../secret.mp3").status_code == 404
    (audio / "notes.txt").write_text("not audio")
    assert recorded.test_client().get("/twilio/voice/audio/notes.txt").status_code == 404

    # Served from elsewhere (a CDN): the URL is built under VOICE_AUDIO_BASE_URL.
    cdn = create_app(
        {**settings_overrides, "VOICE_AUDIO_BASE_URL": "https://cdn.example.org/survey-audio/"}
    )
    third = Call(cdn.test_client(), "+13055550179")
    third.start()
    turn = third.press("3")
    assert turn.said == [("https://cdn.example.org/survey-audio/ht/consent.mp3", "play")]
    recorded.extensions["surveybot"].redis.close()
    cdn.extensions["surveybot"].redis.close()


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_whole_call_by_speech(app, client, db, lang):
    q = q_of(app)
    words = {
        "en": ["yes", "green card", "more than 10 years", "yeah", "ICE and deportation"]
        + ["many", "no"],
        "es": ["sí", "sin papeles", "tres", "claro", "uno y tres", "nadie", "no sé"],
    }[lang]
    call = Call(client, CALLER)
    call.start()
    turn = call.press(str(q.languages.index(lang) + 1))
    assert turn.gather["input"] == "dtmf speech"
    assert turn.gather["language"] == SAY_VOICES[lang].language
    for said in words:
        turn = call.say(said)
    assert turn.hung_up and turn.text == spoken(q, "message.closing", lang)
    run_jobs(app)
    [stored] = responses(db)
    rows = _answers(db, stored.id)
    if lang == "en":
        assert rows["status"] == ["lpr"] and rows["years_in_us"] == ["gt10"]
        assert sorted(rows["fear_reasons"]) == ["deportation", "ice_collaboration"]
        assert rows["knows_deported"] == ["several"] and rows["would_report_crime"] == ["no"]
    else:
        assert rows["status"] == ["undocumented"] and rows["years_in_us"] == ["gt10"]
        assert sorted(rows["fear_reasons"]) == ["ice_collaboration", "language"]
        assert rows["knows_deported"] == ["none"] and rows["would_report_crime"] == ["not_sure"]


def test_speech_hints_name_the_options_in_the_callers_language(app, client):
    call = Call(client, CALLER)
    call.start()
    call.press("2")
    turn = call.press("1")
    hints = turn.gather["hints"]
    assert "sin papeles" in hints and "residente" in hints
    assert "undocumented" not in hints.lower()


def test_speech_recognition_can_be_switched_off(app, client, settings_overrides):
    from bot import create_app

    keypad_only = create_app({**settings_overrides, "VOICE_SPEECH": "0"})
    call = Call(keypad_only.test_client(), CALLER)
    call.start()
    turn = call.press("1")
    assert turn.gather["input"] == "dtmf"
    keypad_only.extensions["surveybot"].redis.close()


# ------------------------------------------------------------------------- keys and misses


def test_multi_choice_keys_star_repeats_zero_skips_nine_goes_back(app, client, redis):
    q = q_of(app)
    call = Call(client, CALLER)
    call.start()
    call.press("1")
    call.press("1")  # consent
    call.press("1")  # status
    call.press("1")  # years
    turn = call.press("1")  # afraid: yes -> fear_reasons (multi)
    fear = spoken(q, "question.fear_reasons", "en")
    assert turn.text == fear
    assert turn.gather["finishOnKey"] == "#" and "numDigits" not in turn.gather

    assert call.press("*").text == fear  # repeat, no miss counted
    assert session_of(redis)["misses"] == 0
    turn = call.press("9")  # back to "afraid"
    assert turn.text == spoken(q, "question.afraid_to_seek_help", "en")
    assert turn.gather["numDigits"] == "1"
    call.press("1")
    turn = call.press("0")  # skip the reasons
    assert turn.text == spoken(q, "question.knows_deported", "en")
    assert session_of(redis)["answers"]["fear_reasons"] is None
    call.press("9")  # back to the reasons again
    turn = call.press("245#")
    assert turn.text == spoken(q, "question.knows_deported", "en")
    reasons = session_of(redis)["answers"]["fear_reasons"]
    assert reasons == ["deportation", "bad_experience", "other"]


def test_no_input_repeats_then_offers_to_skip_then_ends_the_call_keeping_answers(
    app, client, redis
):
    q = q_of(app)
    call = Call(client, CALLER)
    call.start()
    call.press("1")
    call.press("1")
    call.press("2")  # status: lpr
    question = spoken(q, "question.years_in_us", "en")

    turn = call.silence()
    assert turn.text == f"{spoken(q, 'message.invalid', 'en')} {question}"
    turn = call.press("7")  # not an option
    assert turn.text == " ".join(
        [spoken(q, "message.invalid", "en"), spoken(q, "message.skip_offer", "en"), question]
    )
    turn = call.silence()
    assert turn.hung_up and turn.text == spoken(q, "message.call_ended", "en")
    kept = session_of(redis)
    assert kept["answers"] == {"status": "lpr"} and kept["question"] == "years_in_us"

    # Calling again resumes at the same question, misses forgotten.
    again = Call(client, CALLER)
    turn = again.start()
    assert turn.text == f"{spoken(q, 'message.resumed', 'en')} {question}"
    assert session_of(redis)["misses"] == 0


def test_the_language_menu_and_consent_by_keypad(app, client, redis):
    q = q_of(app)
    call = Call(client, CALLER)
    call.start()
    turn = call.press("5")  # no such language: the menu again
    for lang in q.languages:
        assert spoken(q, "language_prompt", lang) in turn.text
    call.press("2")
    turn = call.press("9")  # back from consent to the menu
    assert spoken(q, "language_prompt", "ht") in turn.text
    call.press("1")
    turn = call.press("2")  # declines
    assert turn.hung_up and turn.text == spoken(q, "message.declined", "en")
    assert session_of(redis) is None


def test_saying_stop_ends_the_call_without_opting_out_of_texts(app, client, redis):
    q = q_of(app)
    call = Call(client, CALLER)
    call.start()
    call.press("1")
    call.press("1")
    turn = call.say("stop")
    assert turn.hung_up and turn.text == spoken(q, "message.declined", "en")
    assert session_of(redis) is None
    assert not redis.exists(keys.opted_out(pseudonym(KEY, CALLER)))


def test_repeat_by_speech_and_spoken_numbers(app, client, redis):
    q = q_of(app)
    call = Call(client, CALLER)
    call.start()
    call.press("1")
    call.press("1")
    assert call.say("repeat").text == spoken(q, "question.status", "en")
    call.say("four")
    assert session_of(redis)["answers"] == {"status": "undocumented"}


# ------------------------------------------------------------------------- resume


def test_hang_up_mid_way_and_call_again_resumes_then_completes(app, client, db, redis):
    q = q_of(app)
    first = Call(client, CALLER)
    first.start()
    first.press("2")
    first.press("1")
    first.press("4")  # status: undocumented
    first.press("3")  # years: gt10
    assert first.hang_up() == 204  # caller hangs up before "afraid"

    second = Call(client, CALLER)
    turn = second.start()
    assert turn.text == " ".join(
        [spoken(q, "message.resumed", "es"), spoken(q, "question.afraid_to_seek_help", "es")]
    )
    second.press("2")  # no: the reasons are not asked
    second.press("1")
    turn = second.press("3")
    assert turn.hung_up and turn.text == spoken(q, "message.closing", "es")
    run_jobs(app)
    [stored] = responses(db)
    rows = _answers(db, stored.id)
    assert rows["status"] == ["undocumented"] and rows["years_in_us"] == ["gt10"]
    assert rows["afraid_to_seek_help"] == ["no"] and "fear_reasons" not in rows

    # The wave is answered: a third call is thanked (in every language: the conversation,
    # and with it the caller's language, is gone), not surveyed again.
    third = Call(client, CALLER)
    turn = third.start()
    assert turn.hung_up
    voices = {lang: SAY_VOICES.get(lang, FALLBACK_VOICE).language for lang in q.languages}
    assert turn.said == [
        (spoken(q, "message.already_completed", lang), voices[lang]) for lang in q.languages
    ]


def test_start_by_text_and_finish_by_phone(app, client, db, redis):
    q = q_of(app)
    text(client, CALLER, "ENCUESTA")
    text(client, CALLER, "1")
    text(client, CALLER, "1")  # status: citizen
    call = Call(client, CALLER)
    turn = call.start()
    assert turn.text == " ".join(
        [spoken(q, "message.resumed", "es"), spoken(q, "question.years_in_us", "es")]
    )
    answer_all(call, q, "es", {"afraid_to_seek_help": "2"})
    assert call.turn.text == spoken(q, "message.closing", "es")
    run_jobs(app)
    [stored] = responses(db)
    assert _answers(db, stored.id)["status"] == ["citizen"]
    assert stored.language == "es"


def test_start_by_phone_and_finish_by_text(app, client, db, redis):
    q = q_of(app)
    call = Call(client, CALLER)
    call.start()
    call.press("1")
    call.press("1")
    call.press("1")
    call.hang_up()
    replies = text(client, CALLER, "1")  # years: lt5, by text
    assert replies[-1].startswith(q.question("afraid_to_seek_help").text["en"])
    text(client, CALLER, "2")
    text(client, CALLER, "1")
    replies = text(client, CALLER, "1")
    assert replies == [q.message("closing", "en")]
    run_jobs(app)
    assert len(responses(db)) == 1


def test_an_opted_out_texter_can_still_answer_by_phone_and_stays_opted_out(app, client, redis):
    q = q_of(app)
    text(client, CALLER, "STOP")
    call = Call(client, CALLER)
    call.start()
    turn = call.press("1")
    assert turn.text == spoken(q, "message.consent", "en")
    assert redis.exists(keys.opted_out(pseudonym(KEY, CALLER)))
    assert text(client, CALLER, "1") == []  # texts stay silent until START


@pytest.mark.parametrize("withheld", ["+266696687", "+7378742833", "Anonymous", "", "12345"])
def test_withheld_caller_ids_never_share_a_session(app, client, redis, withheld):
    q = q_of(app)
    first = Call(client, withheld)
    first.start()
    first.press("1")
    first.press("1")
    second = Call(client, withheld)
    turn = second.start()
    # A new caller with the same withheld ID hears the menu, not the first caller's question.
    assert spoken(q, "language_prompt", "en") in turn.text
    assert not redis.exists(keys.session(pseudonym(KEY, withheld)))


# ------------------------------------------------------------------------- Twilio's side


def test_a_retried_webhook_gets_the_same_twiml_and_changes_nothing(app, client, redis):
    call = Call(client, CALLER)
    call.start()
    call.press("1")
    action = call.turn.gather["action"]
    first = call.press("1")  # consent
    params = call.params("in-progress", Digits="1")
    again = call.post(action, params)
    assert again.data == first.xml
    assert session_of(redis)["stage"] == Stage.QUESTION.value
    assert session_of(redis)["answers"] == {}


def test_unsigned_or_tampered_voice_requests_get_403(app, client, redis, caplog):
    caplog.set_level(logging.DEBUG)
    call = Call(client, CALLER)
    url = "https://bot.example.org/twilio/voice"
    assert call.post(url, call.params("ringing"), signature="").status_code == 403
    assert call.post(url, call.params("ringing"), signature="bogus").status_code == 403
    gather = "https://bot.example.org/twilio/voice/gather?n=1"
    pressed = call.params("in-progress", Digits="1")
    assert call.post(gather, pressed, signature="x").status_code == 403
    status = "https://bot.example.org/twilio/voice/status"
    assert call.post(status, call.params("completed"), signature="").status_code == 403
    assert not redis.keys("sb:{*}")
    assert CALLER not in caplog.text and call.call_sid not in caplog.text


def test_malformed_voice_requests_get_400(app, client):
    call = Call(client, CALLER)
    params = call.params("ringing")
    del params["CallSid"]
    assert call.post("https://bot.example.org/twilio/voice", params).status_code == 400
    bad_step = "https://bot.example.org/twilio/voice/gather?n=abc"
    assert call.post(bad_step, call.params("in-progress", Digits="1")).status_code == 400


def test_call_status_callbacks_are_counted_without_identifiers(app, client, redis):

    for status in ("completed", "completed", "no-answer", "weird"):
        assert Call(client, CALLER).hang_up(status) == 204
    counts = redis.hgetall(keys.call_stats(bot_clock.today().isoformat()))
    assert counts == {b"completed": b"2", b"no-answer": b"1", b"other": b"1"}


def test_no_wave_open_is_said_and_the_call_ends(app, client, db, redis):
    q = q_of(app)
    with Session(get_engine(db)) as session:
        create_wave(session, name="closed-one")
        open_wave(session, redis, "closed-one", allow_placeholders=True)
        close_wave(session, redis, "closed-one")
    turn = Call(client, CALLER).start()
    assert turn.hung_up
    for lang in q.languages:
        assert spoken(q, "message.no_wave_open", lang) in turn.text


# ------------------------------------------------------------------------- every prompt


def _every_state(q: Questionnaire):
    yield ConversationSession(stage=Stage.LANGUAGE)
    for lang in q.languages:
        yield ConversationSession(stage=Stage.CONSENT, lang=lang)
        for question in q.questions:
            yield ConversationSession(stage=Stage.QUESTION, lang=lang, question=question.id)


def test_every_prompt_of_the_file_makes_valid_twiml(app):
    q = q_of(app)
    action = "https://bot.example.org/twilio/voice/gather?n=7"
    with app.test_request_context("/twilio/voice"):
        for state in _every_state(q):
            for lang in q.languages:
                voice_language = SAY_VOICES.get(lang, FALLBACK_VOICE).language
                replies = tuple(Reply("", lang, prompt) for prompt in all_prompts(q))
                for session in (state, None):  # listening for an answer, or hanging up
                    turn = check_twiml(call_twiml(q, Step(session, replies), action).encode())
                    assert len(turn.said) == len(replies)
                    assert {language for _, language in turn.said} == {voice_language}
                    assert turn.hung_up == (session is None)
                    if session is not None and session.lang in ("en", "es"):
                        assert turn.gather["language"] == SAY_VOICES[session.lang].language


def test_every_question_reads_each_option_with_its_key(app):
    q = q_of(app)
    for lang in q.languages:
        for question in q.questions:
            speech = spoken(q, f"question.{question.id}", lang)
            for number in range(1, len(question.options) + 1):
                assert f" {number}." in speech
            assert "/" not in speech or lang == "ht"  # "Ciudadano/a" has a spoken label


def test_a_withheld_caller_who_finishes_leaves_no_marker(app, client, redis, db):
    """Nobody can recognise that caller again, so no 'already answered' marker is kept."""
    q = q_of(app)
    call = Call(client, "+266696687")
    call.start()
    call.press("1")
    call.press("1")
    answer_all(call, q, "en", {"afraid_to_seek_help": "2"})
    assert call.turn.text == spoken(q, "message.closing", "en")
    run_jobs(app)
    assert len(responses(db)) == 1
    left = list(redis.scan_iter("sb:{call:*"))
    assert not [k for k in left if k.endswith(b":done")]
    # Only the last answer's cache is left, for Twilio's retries, and it expires.
    assert [k for k in left if b":msg:" in k] == left and all(redis.ttl(k) > 0 for k in left)
