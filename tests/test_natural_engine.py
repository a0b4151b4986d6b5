"""A conversation that feels natural (issue 13, items 4-7), at the engine: welcome back after a
pause, short hints, texts in the one language known, the wave's own start words, and answers
said or typed in a sentence or as number words, in every language."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot.core.engine import Channel, EventType, Inbound, Session, Stage, parse_answer, step
from bot.core.questionnaire import load_questionnaire
from bot.core.render import render_question
from bot.core.voice_prompts import hint_phrase, hint_phrases, speech_hints

Q = load_questionnaire()
LANGS = Q.languages


def say(session, text, q=Q, **kwargs):
    return step(q, session, Inbound(text=text, **kwargs))


def at_question(lang, question_id="status"):
    return Session(stage=Stage.QUESTION, lang=lang, question=question_id)


def texts(result):
    return [reply.text for reply in result.replies]


# ------------------------------------------------------------------ 4. welcome back


@pytest.mark.parametrize("lang", LANGS)
def test_back_after_a_pause_is_welcomed_with_the_pending_question(lang):
    session = at_question(lang, "years_in_us")
    session.misses = 2
    result = say(session, "hello?", returning=True)
    assert texts(result) == [
        Q.message("resumed", lang),
        render_question(Q.question("years_in_us"), lang),
    ]
    assert result.session.misses == 0 and result.session.question == "years_in_us"
    # The same text without a pause is a wrong reply: a hint, not a welcome.
    assert texts(say(at_question(lang, "years_in_us"), "hello?"))[0] != Q.message("resumed", lang)


@pytest.mark.parametrize("lang", LANGS)
def test_back_at_consent_is_welcomed_with_the_consent(lang):
    result = say(Session(stage=Stage.CONSENT, lang=lang), "hola", returning=True)
    assert texts(result) == [Q.message("resumed", lang), Q.message("consent", lang)]


def test_a_returning_answer_is_taken_as_an_answer():
    result = say(at_question("es"), "2", returning=True)
    assert result.session.answers == {"status": "lpr"}
    assert texts(result) == [render_question(Q.question("years_in_us"), "es")]
    started = say(Session(stage=Stage.CONSENT, lang="ht"), "1", returning=True)
    assert [e.type for e in started.events] == [EventType.STARTED]


# ------------------------------------------------------------------ 5. short hints

RANGE_HINTS = {
    "en": ("Reply 1 to 5.", "Reply 1 to 3.", "Reply with numbers 1 to 5, like 1 3."),
    "es": (
        "Responda del 1 al 5.",
        "Responda del 1 al 3.",
        "Responda con números del 1 al 5, por ejemplo: 1 3.",
    ),
    "ht": ("Reponn 1 rive 5.", "Reponn 1 rive 3.", "Reponn ak nimewo 1 rive 5, egzanp: 1 3."),
}


@pytest.mark.parametrize("lang", LANGS)
def test_an_out_of_range_number_gets_the_range_only(lang):
    five, three, multi = RANGE_HINTS[lang]
    assert texts(say(at_question(lang, "status"), "6")) == [five]
    assert texts(say(at_question(lang, "years_in_us"), "0")) == [three]
    assert texts(say(at_question(lang, "years_in_us"), "1 2")) == [three]  # one answer only
    assert texts(say(at_question(lang, "fear_reasons"), "1 9")) == [multi]


@pytest.mark.parametrize("lang", LANGS)
def test_a_reply_that_is_no_number_gets_the_range_and_the_question(lang):
    result = say(at_question(lang, "years_in_us"), "purple elephant")
    assert texts(result) == [RANGE_HINTS[lang][1], render_question(Q.question("years_in_us"), lang)]


def test_the_third_near_miss_offers_to_skip_and_a_call_hears_the_question_again():
    session = at_question("es", "status")
    for _ in range(3):
        result = say(session, "7")
        session = result.session
    assert texts(result) == [f"Responda del 1 al 5. {Q.message('skip_offer', 'es')}"]
    by_phone = say(at_question("en", "status"), "7", channel=Channel.VOICE)
    assert [r.prompt for r in by_phone.replies] == ["message.invalid", "question.status"]


@pytest.mark.parametrize("lang", LANGS)
def test_a_wrong_reply_at_consent_gets_one_line(lang):
    result = say(Session(stage=Stage.CONSENT, lang=lang), "what is this")
    assert texts(result) == [Q.message("consent_hint", lang)]
    assert "\n" not in Q.message("consent_hint", lang)
    assert len(Q.message("consent_hint", lang)) < len(Q.message("consent", lang)) / 4


def test_a_call_hears_the_consent_again_after_silence_and_one_line_after_a_wrong_key():
    consent = Session(stage=Stage.CONSENT, lang="es")
    silent = step(Q, consent, Inbound(text="", keys="", channel=Channel.VOICE))
    assert [r.prompt for r in silent.replies] == ["message.consent"]
    wrong = step(Q, consent, Inbound(text="", keys="5", channel=Channel.VOICE))
    assert [r.prompt for r in wrong.replies] == ["message.consent_hint"]


@pytest.mark.parametrize(
    "lang, word", [("es", "COMENZAR"), ("es", "empezar"), ("ht", "KÒMANSE"), ("ht", "komanse")]
)
def test_start_in_a_language_opts_in_in_that_language_only(lang, word):
    result = say(None, word, opted_out=True)
    assert [e.type for e in result.events] == [EventType.OPTED_IN]
    assert texts(result) == [Q.message("opted_in", lang), Q.message("consent", lang)]
    assert all(reply.lang == lang for reply in result.replies)


def test_twilio_words_name_no_language_so_all_three_are_sent():
    result = say(None, "START", opted_out=True)
    assert all(Q.message("opted_in", lang) in result.replies[0].text for lang in LANGS)
    helped = say(None, "HELP")
    assert all(Q.message("help", lang) in helped.replies[0].text for lang in LANGS)


@pytest.mark.parametrize("lang, word", [("en", "SURVEY"), ("es", "Ayuda"), ("ht", "SONDAJ")])
def test_already_answered_is_said_in_the_language_of_the_text(lang, word):
    result = say(None, word, completed=True)
    assert texts(result) == [Q.message("already_completed", lang)]


# ------------------------------------------------------------------ 6. the wave's words

WAVE_WORDS = {"en": ("checkup",), "es": ("chequeo", "revision"), "ht": ("tcheke",)}


@pytest.mark.parametrize("lang", LANGS)
def test_decline_and_opt_in_name_the_waves_own_start_word(lang):
    wave_q = replace(Q, start_keywords=WAVE_WORDS)
    word = WAVE_WORDS[lang][0].upper()
    [declined] = texts(say(Session(stage=Stage.CONSENT, lang=lang), "2", q=wave_q))
    assert word in declined
    assert not {"SURVEY", "ENCUESTA", "SONDAJ"} & set(re.findall(r"[A-Z]+", declined))
    assert declined == wave_q.message("declined", lang)
    start = {"en": "UNSTOP", "es": "COMENZAR", "ht": "KÒMANSE"}[lang]
    opted_in = say(None, start, q=wave_q, opted_out=True).replies[0].text
    assert word in opted_in
    assert not {"SURVEY", "ENCUESTA", "SONDAJ"} & set(re.findall(r"[A-Z]+", opted_in))


def test_a_wave_without_a_word_in_a_language_names_another_of_its_words():
    wave_q = replace(Q, start_keywords={"es": ("chequeo",)})
    assert "CHEQUEO" in wave_q.message("declined", "en")
    assert "START" in replace(Q, start_keywords={}).message("opted_in", "ht")


def test_the_shipped_file_still_names_its_own_words():
    assert "SURVEY" in Q.message("declined", "en") and "ENCUESTA" in Q.message("opted_in", "es")
    assert "SONDAJ" in Q.message("declined", "ht")


# ------------------------------------------------------------------ 7. phrases and numbers

PHRASES = [
    ("en", "status", "I'm a US citizen", "citizen"),
    ("en", "status", "I am a U.S. citizen.", "citizen"),
    ("es", "status", "Soy ciudadana", "citizen"),
    ("ht", "status", "Mwen se sitwayen ameriken", "citizen"),
    ("en", "years_in_us", "more than ten years", "gt10"),
    ("es", "years_in_us", "más de diez años", "gt10"),
    ("ht", "years_in_us", "plis pase dis an", "gt10"),
    ("en", "would_report_crime", "honestly I don't know", "not_sure"),
    ("es", "would_report_crime", "no lo sé", "not_sure"),
    ("ht", "would_report_crime", "m pa konnen", "not_sure"),
    ("en", "years_in_us", "two", "5to10"),
    ("es", "years_in_us", "dos", "5to10"),
    ("ht", "years_in_us", "de", "5to10"),
    ("ht", "knows_deported", "twa", "several"),
]


@pytest.mark.parametrize("lang, question_id, reply, expected", PHRASES)
def test_an_option_named_in_a_sentence_or_a_number_word_is_understood(
    lang, question_id, reply, expected
):
    assert parse_answer(Q, Q.question(question_id), reply, lang) == expected


@pytest.mark.parametrize(
    "lang, reply", [("en", "one and three"), ("es", "uno y tres"), ("ht", "en ak twa")]
)
def test_number_words_pick_several_options(lang, reply):
    picks = parse_answer(Q, Q.question("fear_reasons"), reply, lang)
    assert picks == ["ice_collaboration", "language"]


@pytest.mark.parametrize(
    "lang, question_id, reply",
    [
        ("en", "status", "I'm not a US citizen"),  # a negation outside the label
        ("es", "status", "no soy ciudadano"),
        ("ht", "status", "m pa sitwayen"),
        ("es", "years_in_us", "de"),  # "de" is two in Kreyol only
        ("en", "knows_deported", "one"),  # "No one" or "One person": unclear
        ("en", "status", "I was undocumented, now a green card"),  # two options named
        ("en", "status", " ".join(["word"] * 20 + ["citizen"])),  # an essay is not searched
    ],
)
def test_what_is_unclear_stays_unclear(lang, question_id, reply):
    assert parse_answer(Q, Q.question(question_id), reply, lang) is None


def test_a_whole_step_reads_a_sentence():
    result = say(at_question("en", "status"), "I'm a US citizen")
    assert result.session.answers == {"status": "citizen"}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_speech_hints_carry_no_punctuation_twilio_warns_about(lang):
    for question in Q.questions:
        for phrase in hint_phrases(Q, question, lang):
            assert re.fullmatch(r"\w+(?:'\w+)?(?: \w+(?:'\w+)?)*", phrase), phrase
        hints = speech_hints(Q, question, lang)
        assert all(phrase.strip() for phrase in hints.split(","))
    status = speech_hints(Q, Q.question("status"), "es")
    assert "Ciudadano a de EE UU" in status.split(", ")
    assert "ciudadano o ciudadana de Estados Unidos" in status.split(", ")


def test_a_hint_phrase_drops_what_twilio_reads_otherwise():
    assert hint_phrase("Other (visa, TPS, asylum pending...)") == "Other visa TPS asylum pending"
    assert hint_phrase("$OOV_CLASS_DIGIT_SEQUENCE") == "OOV CLASS DIGIT SEQUENCE"
    assert hint_phrase("i don't know") == "i don't know"
    assert hint_phrase("U.S. citizen") == "US citizen"
    assert hint_phrase("'quoted'") == "quoted"
