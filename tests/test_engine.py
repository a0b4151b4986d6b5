"""The conversation engine, walked through every question, option and keyword in every language."""

from __future__ import annotations

import pytest

from bot.core.engine import (
    MISSES_BEFORE_SKIP_OFFER,
    VOICE_MISSES_BEFORE_PAUSE,
    VOICE_MISSES_BEFORE_SKIP_OFFER,
    Channel,
    EventType,
    Inbound,
    Session,
    Signal,
    Stage,
    language_prompt,
    parse_answer,
    step,
)
from bot.core.questionnaire import Keyword, QuestionType, load_questionnaire
from bot.core.render import render_question
from bot.core.text import normalize

Q = load_questionnaire()
LANGS = Q.languages


def say(session, text, **kwargs):
    """One step with an inbound text."""
    return step(Q, session, Inbound(text=text, **kwargs))


def at_question(lang: str, question_id: str, answers=None) -> Session:
    """A session waiting at a question."""
    answers = dict(answers or {})
    history = [qid for qid in answers]
    return Session(
        stage=Stage.QUESTION, lang=lang, question=question_id, answers=answers, history=history
    )


def words(keyword: Keyword, lang: str) -> tuple[str, ...]:
    return Q.keywords[keyword][lang]


def texts(result) -> list[str]:
    return [reply.text for reply in result.replies]


def events(result) -> list[EventType]:
    return [event.type for event in result.events]


# ------------------------------------------------------------------------------ starting


def test_any_first_text_asks_for_the_language_in_all_three_languages():
    result = say(None, "hello")
    assert result.session.stage is Stage.LANGUAGE
    assert texts(result) == [language_prompt(Q).text]
    for lang in LANGS:
        assert Q.language_prompt[lang].strip() in result.replies[0].text
    assert result.replies[0].lang is None


@pytest.mark.parametrize("lang", LANGS)
def test_start_keyword_that_names_a_language_goes_straight_to_consent(lang):
    for word in Q.start_keywords[lang]:
        result = say(None, word.upper() + "!")
        assert result.session.stage is Stage.CONSENT
        assert result.session.lang == lang
        assert texts(result) == [Q.message("consent", lang)]
        assert result.replies[0].lang == lang


@pytest.mark.parametrize("number, lang", [("1", "en"), ("2", "es"), ("3", "ht")])
def test_language_by_number(number, lang):
    result = say(say(None, "hi").session, number)
    assert result.session.lang == lang
    assert texts(result) == [Q.message("consent", lang)]


@pytest.mark.parametrize(
    "name, lang", [("English", "en"), ("ESPAÑOL", "es"), ("espanol", "es"), ("Kreyòl", "ht")]
)
def test_language_by_name(name, lang):
    result = say(say(None, "hi").session, name)
    assert result.session.lang == lang


def test_unknown_language_choice_asks_again():
    session = say(None, "hi").session
    result = say(session, "7")
    assert result.session.stage is Stage.LANGUAGE
    assert texts(result) == [language_prompt(Q).text]


@pytest.mark.parametrize("lang", LANGS)
def test_consent_yes_starts_the_first_question(lang):
    session = Session(stage=Stage.CONSENT, lang=lang)
    for yes in ("1", "yes", {"en": "Yes!", "es": "Sí", "ht": "wi"}[lang]):
        result = say(session, yes)
        first = Q.questions[0]
        assert result.session.stage is Stage.QUESTION
        assert result.session.question == first.id
        assert texts(result) == [render_question(first, lang)]
        assert events(result) == [EventType.STARTED]


@pytest.mark.parametrize("lang", LANGS)
def test_consent_no_ends_politely_and_keeps_nothing(lang):
    for no in ("2", "no", {"en": "NO.", "es": "no", "ht": "non"}[lang]):
        result = say(Session(stage=Stage.CONSENT, lang=lang), no)
        assert result.session is None
        assert texts(result) == [Q.message("declined", lang)]
        assert events(result) == [EventType.DECLINED]


@pytest.mark.parametrize("lang", LANGS)
def test_unclear_consent_gets_a_one_line_hint_not_the_consent_again(lang):
    result = say(Session(stage=Stage.CONSENT, lang=lang), "maybe later")
    assert result.session.stage is Stage.CONSENT
    assert texts(result) == [Q.message("consent_hint", lang)]
    assert "\n" not in texts(result)[0] and result.replies[0].lang == lang


def test_start_at_consent_means_yes():
    result = say(Session(stage=Stage.CONSENT, lang="en"), "START")
    assert result.session.stage is Stage.QUESTION
    assert events(result) == [EventType.STARTED]


# ------------------------------------------------------------------------------ answers


ALL_OPTIONS = [
    (lang, question.id, i, option.id)
    for lang in LANGS
    for question in Q.questions
    for i, option in enumerate(question.options, 1)
]


def _expected(question, option_id):
    return [option_id] if question.type is QuestionType.MULTI else option_id


@pytest.mark.parametrize("lang, question_id, number, option_id", ALL_OPTIONS)
def test_every_option_by_number_and_by_label(lang, question_id, number, option_id):
    question = Q.question(question_id)
    expected = _expected(question, option_id)
    assert parse_answer(Q, question, str(number), lang) == expected
    assert parse_answer(Q, question, f" {number}. ", lang) == expected
    label = question.option(option_id).label[lang]
    assert parse_answer(Q, question, label, lang) == expected
    assert parse_answer(Q, question, label.upper() + "!", lang) == expected
    for synonym in question.option(option_id).synonyms.get(lang, ()):
        assert parse_answer(Q, question, synonym, lang) == expected


@pytest.mark.parametrize(
    "lang, reply, expected",
    [
        ("en", "yes", "yes"),
        ("en", "Yeah!", "yes"),
        ("en", "nope", "no"),
        ("es", "sí", "yes"),
        ("es", "SI", "yes"),
        ("es", "Sí.", "yes"),
        ("es", "no", "no"),
        ("ht", "wi", "yes"),
        ("ht", "Non!", "no"),
        ("ht", "oui", "yes"),
        ("en", "yes I am", "yes"),
        ("es", "si tengo miedo", "yes"),
    ],
)
def test_common_yes_no_words(lang, reply, expected):
    assert parse_answer(Q, Q.question("afraid_to_seek_help"), reply, lang) == expected


@pytest.mark.parametrize(
    "reply", ["1 3", "1,3", "1, 3", "1 y 3", "1 and 3", "1 ak 3", "3 1", "1 3 3", "13", "1;3"]
)
def test_multi_takes_several_numbers(reply):
    question = Q.question("fear_reasons")
    assert parse_answer(Q, question, reply, "es") == ["ice_collaboration", "language"]


def test_multi_takes_labels_too():
    question = Q.question("fear_reasons")
    first, last = question.options[0], question.options[-1]
    reply = f"{first.label['en']}, {last.label['en']}"
    assert parse_answer(Q, question, reply, "en") == [first.id, last.id]


@pytest.mark.parametrize("reply", ["0", "6", "1 9", "99", "", "banana", "1 banana"])
def test_multi_rejects_what_is_not_an_option(reply):
    assert parse_answer(Q, Q.question("fear_reasons"), reply, "en") is None


@pytest.mark.parametrize("reply", ["0", "9", "4", "", "maybe", "1 2", "12"])
def test_choice_rejects_what_is_not_one_option(reply):
    assert parse_answer(Q, Q.question("years_in_us"), reply, "en") is None


def test_a_whole_survey_in_each_language_completes_with_the_answers():
    for lang in LANGS:
        session = say(say(None, "hi").session, str(LANGS.index(lang) + 1)).session
        session = say(session, "1").session
        replies_seen = []
        plan = {
            "status": "2",
            "years_in_us": "3",
            "afraid_to_seek_help": "1",
            "fear_reasons": "1 3",
            "knows_deported": "3",
            "would_report_crime": "3",
        }
        result = None
        while session is not None:
            result = say(session, plan[session.question])
            replies_seen.extend(result.replies)
            session = result.session
        assert texts(result) == [Q.message("closing", lang)]
        [completed] = result.events
        assert completed.type is EventType.COMPLETED
        assert completed.lang == lang
        assert completed.answers == {
            "status": "lpr",
            "years_in_us": "gt10",
            "afraid_to_seek_help": "yes",
            "fear_reasons": ["ice_collaboration", "language"],
            "knows_deported": "several",
            "would_report_crime": "not_sure",
        }
        assert all(reply.lang == lang for reply in replies_seen)


def test_fear_reasons_only_for_those_afraid():
    result = say(at_question("en", "afraid_to_seek_help", {"status": "citizen"}), "2")
    assert result.session.question == "knows_deported"
    result = say(at_question("en", "afraid_to_seek_help", {"status": "citizen"}), "1")
    assert result.session.question == "fear_reasons"


def test_skipping_the_fear_question_skips_the_reasons_too():
    result = say(at_question("en", "afraid_to_seek_help"), "SKIP")
    assert result.session.question == "knows_deported"
    assert result.session.answers["afraid_to_seek_help"] is None


# ------------------------------------------------------------------------------ invalid input


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("question", Q.questions, ids=lambda q: q.id)
def test_invalid_reply_reasks_with_a_hint_in_the_language(lang, question):
    session = at_question(lang, question.id)
    hint_key = "invalid_multi" if question.type is QuestionType.MULTI else "invalid"
    for miss in range(1, MISSES_BEFORE_SKIP_OFFER + 2):
        result = say(session, "purple elephant")
        session = result.session
        assert session.question == question.id
        assert session.misses == miss
        hint, prompt = result.replies
        assert prompt.text == render_question(question, lang)
        assert hint.text.startswith(Q.message(hint_key, lang, last=len(question.options)))
        offers_skip = Q.message("skip_offer", lang) in hint.text
        assert offers_skip == (miss >= MISSES_BEFORE_SKIP_OFFER)
        assert {hint.lang, prompt.lang} == {lang}


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "x" * 1601,
        "🙂🙂",
        "你好",
        "مرحبا",
        "\x00\x07\x1b",
        "1\x00",
        "\u202e1",
        "<Message>",
    ],
)
def test_odd_bodies_get_a_sensible_reply_never_an_error(body):
    session = at_question("es", "status")
    result = say(session, body)
    assert result.replies
    assert all(reply.lang == "es" for reply in result.replies)
    assert result.session.question in {"status", "years_in_us"}


def test_a_picture_without_text_is_explained():
    result = say(at_question("ht", "status"), "", has_media=True)
    assert texts(result)[0] == Q.message("text_only", "ht")
    assert result.session.question == "status"
    first = say(None, "", has_media=True)
    assert Q.message("text_only", "en") in first.replies[0].text
    at_consent = say(Session(stage=Stage.CONSENT, lang="es"), "", has_media=True)
    assert texts(at_consent) == [Q.message("text_only", "es"), Q.message("consent_hint", "es")]
    at_menu = say(Session(), "", has_media=True)
    assert Q.message("text_only", "ht") in at_menu.replies[0].text
    assert at_menu.replies[1].text == language_prompt(Q).text


def test_overlong_body_is_not_taken_as_an_answer():
    result = say(at_question("en", "status"), "1 " + "a" * 1700)
    assert result.session.question == "status"


# ------------------------------------------------------------------------------ keywords


def _all_keyword_words(keyword: Keyword):
    return [(lang, word) for lang in LANGS for word in words(keyword, lang)]


@pytest.mark.parametrize("lang, word", _all_keyword_words(Keyword.STOP))
def test_stop_words_end_everything_and_send_nothing(lang, word):
    for session in (None, Session(), at_question("es", "knows_deported", {"status": "lpr"})):
        result = say(session, word.upper())
        assert result.session is None
        assert result.replies == ()
        assert events(result) == [EventType.OPTED_OUT]


def test_opted_out_respondents_get_nothing_until_start():
    for text in ("hello", "SURVEY", "1", "HELP"):
        result = say(None, text, opted_out=True)
        assert result == step(Q, None, Inbound(text=text, opted_out=True))
        assert result.session is None and result.replies == () and result.events == ()


@pytest.mark.parametrize("lang, word", _all_keyword_words(Keyword.START))
def test_start_opts_back_in(lang, word):
    result = say(None, word, opted_out=True)
    assert events(result) == [EventType.OPTED_IN]
    if lang == "en":  # Twilio's own START and UNSTOP name no language: the menu, all three
        assert result.session.stage is Stage.LANGUAGE
        assert texts(result)[-1] == language_prompt(Q).text
    else:  # COMENZAR, KOMANSE: that language only, straight to its consent
        assert result.session.stage is Stage.CONSENT and result.session.lang == lang
        assert texts(result) == [Q.message("opted_in", lang), Q.message("consent", lang)]


@pytest.mark.parametrize("lang, word", _all_keyword_words(Keyword.HELP))
def test_help_answers_and_the_conversation_continues(lang, word):
    session = at_question("ht", "years_in_us", {"status": "citizen"})
    result = say(session, word)
    assert texts(result) == [
        Q.message("help", "ht"),
        render_question(Q.question("years_in_us"), "ht"),
    ]
    assert result.session == session


def test_help_before_a_language_is_chosen_speaks_all_three():
    result = say(None, "HELP")
    for lang in LANGS:
        assert Q.message("help", lang) in result.replies[0].text
    assert result.replies[-1].text == language_prompt(Q).text


@pytest.mark.parametrize("lang, word", _all_keyword_words(Keyword.SKIP))
def test_skip_moves_on_and_records_a_skip(lang, word):
    result = say(at_question("en", "status"), word)
    assert result.session.question == "years_in_us"
    assert result.session.answers == {"status": None}


def test_skip_of_a_question_that_cannot_be_skipped():
    from dataclasses import replace

    question = replace(Q.question("status"), skippable=False)
    questionnaire = replace(Q, questions=(question, *Q.questions[1:]))
    result = step(questionnaire, at_question("es", "status"), Inbound("SALTAR"))
    assert texts(result)[0] == Q.message("not_skippable", "es")
    assert result.session.question == "status"
    # and after three misses the hint does not offer what is not allowed
    session = at_question("es", "status")
    for _ in range(MISSES_BEFORE_SKIP_OFFER):
        result = step(questionnaire, session, Inbound("???"))
        session = result.session
    assert Q.message("skip_offer", "es") not in result.replies[0].text


@pytest.mark.parametrize("lang, word", _all_keyword_words(Keyword.BACK))
def test_back_returns_to_the_previous_question_and_forgets_its_answer(lang, word):
    session = at_question("es", "afraid_to_seek_help", {"status": "lpr", "years_in_us": "lt5"})
    result = say(session, word)
    assert result.session.question == "years_in_us"
    assert result.session.answers == {"status": "lpr"}
    assert texts(result) == [render_question(Q.question("years_in_us"), "es")]


def test_back_at_the_first_question():
    result = say(at_question("ht", "status"), "BACK")
    assert texts(result)[0] == Q.message("back_at_start", "ht")
    assert result.session.question == "status"


def test_back_then_a_different_answer_drops_answers_whose_condition_no_longer_holds():
    session = at_question("en", "afraid_to_seek_help", {"status": "citizen", "years_in_us": "lt5"})
    session = say(session, "yes").session
    session = say(session, "1 2").session
    assert session.question == "knows_deported"
    session = say(session, "BACK").session  # back to fear_reasons
    session = say(session, "BACK").session  # back to afraid_to_seek_help
    session = say(session, "no").session
    assert session.question == "knows_deported"
    session = say(session, "1").session
    result = say(session, "1")
    [completed] = result.events
    assert "fear_reasons" not in completed.answers
    assert completed.answers["afraid_to_seek_help"] == "no"


@pytest.mark.parametrize("lang, word", _all_keyword_words(Keyword.RESTART))
def test_restart_deletes_partial_answers(lang, word):
    session = at_question("en", "knows_deported", {"status": "lpr", "years_in_us": "gt10"})
    result = say(session, word)
    assert result.session.answers == {}
    assert result.session.history == []
    assert result.session.question == Q.questions[0].id
    assert texts(result) == [Q.message("restarted", "en"), render_question(Q.questions[0], "en")]
    assert events(result) == [EventType.RESTARTED]


@pytest.mark.parametrize("lang, word", _all_keyword_words(Keyword.LANGUAGE))
def test_language_change_keeps_the_answers(lang, word):
    session = at_question("en", "years_in_us", {"status": "undocumented"})
    result = say(session, word)
    assert result.session.stage is Stage.LANGUAGE
    assert texts(result) == [language_prompt(Q).text]
    result = say(result.session, "3")
    assert result.session.lang == "ht"
    assert result.session.question == "years_in_us"
    assert result.session.answers == {"status": "undocumented"}
    assert texts(result) == [render_question(Q.question("years_in_us"), "ht")]


def test_texting_the_start_keyword_again_resumes_where_it_left_off():
    session = at_question("es", "knows_deported", {"status": "lpr"})
    result = say(session, "ENCUESTA")
    assert texts(result) == [
        Q.message("resumed", "es"),
        render_question(Q.question("knows_deported"), "es"),
    ]
    assert result.session.answers == {"status": "lpr"}


def test_someone_who_completed_is_thanked_again_and_nothing_restarts():
    result = say(None, "hola", completed=True)
    assert result.session is None and result.events == ()
    for lang in LANGS:
        assert Q.message("already_completed", lang) in result.replies[0].text
    result = say(None, "ENCUESTA", completed=True)
    assert texts(result) == [Q.message("already_completed", "es")]


def test_keywords_do_not_collide_with_answers():
    every_keyword_word = {
        normalize(w) for per_lang in Q.keywords.values() for ws in per_lang.values() for w in ws
    }
    for question in Q.questions:
        for option in question.options:
            for lang in LANGS:
                assert normalize(option.label[lang]) not in every_keyword_word
                for synonym in option.synonyms.get(lang, ()):
                    assert normalize(synonym) not in every_keyword_word


def test_the_callers_session_is_never_mutated():
    session = at_question("en", "status")
    before = session.to_dict()
    say(session, "1")
    say(session, "RESTART")
    say(session, "BACK")
    assert session.to_dict() == before


def test_session_round_trips_through_plain_data():
    session = at_question("ht", "fear_reasons", {"afraid_to_seek_help": "yes"})
    session.resume = Stage.QUESTION
    assert Session.from_dict(session.to_dict()) == session


def test_a_language_known_from_an_invitation_skips_the_menu():
    result = say(None, "ok", language="ht")
    assert result.session.stage is Stage.CONSENT and result.session.lang == "ht"
    assert texts(result) == [Q.message("consent", "ht")]
    helped = say(None, "HELP", language="es")
    assert texts(helped) == [Q.message("help", "es"), Q.message("consent", "es")]
    assert say(None, "STOP", language="es").events[0].type is EventType.OPTED_OUT
    assert say(None, "hola", language="xx").session.stage is Stage.LANGUAGE  # unknown code


# ------------------------------------------------------------------------------ by phone
# A call uses the same engine: keys pressed, "call answered" and "repeat" are inputs, and
# every reply names its prompt so the phone can say it in its own words.


def press(session, keys, **kwargs):
    """One step of a call with keys pressed."""
    return step(Q, session, Inbound(text="", keys=keys, channel=Channel.VOICE, **kwargs))


def prompts(result) -> list[str]:
    return [reply.prompt for reply in result.replies]


@pytest.mark.parametrize("lang", LANGS)
def test_every_reply_names_its_prompt(lang):
    assert prompts(say(None, "hello")) == ["language_prompt"]
    assert prompts(say(Session(), str(LANGS.index(lang) + 1))) == ["message.consent"]
    for question in Q.questions:
        session = at_question(lang, question.id)
        missed = say(session, "zzz")
        assert prompts(missed)[-1] == f"question.{question.id}"
        assert missed.replies[-1].text == render_question(question, lang)
    assert prompts(say(at_question(lang, "would_report_crime"), "1")) == ["message.closing"]


@pytest.mark.parametrize("lang", LANGS)
def test_keys_answer_choice_and_multi_questions(lang):
    result = press(at_question(lang, "status"), "4")
    assert result.session.answers == {"status": "undocumented"}
    result = press(at_question(lang, "fear_reasons", {"afraid_to_seek_help": "yes"}), "135")
    assert result.session.answers["fear_reasons"] == ["ice_collaboration", "language", "other"]


def test_star_repeats_zero_skips_nine_goes_back():
    session = at_question("es", "years_in_us", {"status": "lpr"})
    session.misses = 1
    repeated = press(session, "*")
    assert prompts(repeated) == ["question.years_in_us"]
    assert repeated.session.misses == 0 and repeated.session.answers == {"status": "lpr"}
    skipped = press(session, "0")
    assert skipped.session.answers == {"status": "lpr", "years_in_us": None}
    back = press(session, "9")
    assert back.session.question == "status" and back.session.answers == {}
    # A multi answer ends with # (Twilio drops it; a stray one changes nothing).
    multi = at_question("en", "fear_reasons", {"afraid_to_seek_help": "yes"})
    assert press(multi, "12#").session.answers["fear_reasons"] == [
        "ice_collaboration",
        "deportation",
    ]
    assert press(multi, "0").session.answers["fear_reasons"] is None


def test_a_number_question_takes_zero_and_nine_as_digits():
    from bot.core.questionnaire import parse_questionnaire

    q = parse_questionnaire(
        """
languages: [en]
messages: {}
questions:
  - {id: household, type: number, text: {en: "How many people live with you?"}, min: 0, max: 30}
  - {id: done, type: choice, text: {en: "Done?"}, options: [{id: "y", label: {en: "Yes"}}]}
"""
    )
    session = Session(stage=Stage.QUESTION, lang="en", question="household")
    result = step(q, session, Inbound(text="", keys="9", channel=Channel.VOICE))
    assert result.session.answers == {"household": 9}
    result = step(q, session, Inbound(text="", keys="0", channel=Channel.VOICE))
    assert result.session.answers == {"household": 0}


def test_by_phone_the_skip_offer_comes_sooner_and_the_third_miss_pauses_the_call():
    session = at_question("en", "status")
    for miss in range(1, VOICE_MISSES_BEFORE_PAUSE):
        result = press(session, "8")
        offered = "message.skip_offer" in prompts(result)[0].split()
        assert offered == (miss >= VOICE_MISSES_BEFORE_SKIP_OFFER)
        session = result.session
    paused = press(session, "")
    assert events(paused) == [EventType.PAUSED] and paused.replies == ()
    assert paused.session.question == "status" and paused.session.misses == 0
    # By text the same misses only re-ask: texts never pause.
    session = at_question("en", "status")
    for _ in range(VOICE_MISSES_BEFORE_PAUSE + 1):
        session = say(session, "8").session
    assert session.misses == VOICE_MISSES_BEFORE_PAUSE + 1


def test_a_call_answered_greets_or_resumes():
    fresh = step(Q, None, Inbound(text="", channel=Channel.VOICE, signal=Signal.CALL_START))
    assert prompts(fresh) == ["language_prompt"]
    invited = step(
        Q, None, Inbound(text="", channel=Channel.VOICE, signal=Signal.CALL_START, language="ht")
    )
    assert prompts(invited) == ["message.consent"] and invited.session.lang == "ht"
    session = at_question("ht", "knows_deported", {"status": "lpr"})
    session.misses = 2
    resumed = step(Q, session, Inbound(text="", channel=Channel.VOICE, signal=Signal.CALL_START))
    assert prompts(resumed) == ["message.resumed", "question.knows_deported"]
    assert resumed.session.misses == 0 and resumed.session.answers == {"status": "lpr"}
    done = step(
        Q, None, Inbound(text="", channel=Channel.VOICE, signal=Signal.CALL_START, completed=True)
    )
    assert done.session is None and prompts(done) == ["message.already_completed"]


def test_stop_said_on_a_call_ends_it_without_opting_out_of_texts():
    result = step(Q, at_question("en", "status"), Inbound(text="stop", channel=Channel.VOICE))
    assert result.session is None and events(result) == [EventType.DECLINED]
    assert prompts(result) == ["message.declined"]
    by_text = say(at_question("en", "status"), "stop")
    assert events(by_text) == [EventType.OPTED_OUT]
