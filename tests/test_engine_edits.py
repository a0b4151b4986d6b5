"""A session kept under one questionnaire, stepped with an edited one: never an error.

The webhook keeps each conversation on the questionnaire it started with while that snapshot
lasts (tests/test_edit_in_flight.py); these are the engine's own guarantees for when it does
not: a session naming a question (or language) the questionnaire no longer has is answered.
"""

from __future__ import annotations

from functools import lru_cache

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.engine import Channel, EventType, Inbound, Session, Signal, Stage, step
from bot.core.questionnaire import DEFAULT_SURVEY_PATH, Questionnaire, parse_questionnaire
from bot.core.render import render_question
from bot.core.voice_prompts import prompt_speech

SOURCE = DEFAULT_SURVEY_PATH.read_text(encoding="utf-8")
Q = parse_questionnaire(SOURCE)
IDS = [question.id for question in Q.questions]


@lru_cache
def edited(*, without: tuple[str, ...] = (), languages: tuple[str, ...] | None = None):
    """The questionnaire file with some questions removed (and skip logic naming them with
    them), or fewer languages offered, as an organizer might edit it."""
    raw = yaml.safe_load(SOURCE)
    raw["questions"] = [q for q in raw["questions"] if q["id"] not in without]
    for question in raw["questions"]:
        for gone in without:
            (question.get("when") or {}).pop(gone, None)
    if languages is not None:
        raw["languages"] = list(languages)
        raw["start_keywords"] = {k: v for k, v in raw["start_keywords"].items() if k in languages}
        for words in raw["keywords"].values():
            for lang in [lang for lang in words if lang not in languages]:
                del words[lang]
    return parse_questionnaire(yaml.safe_dump(raw, allow_unicode=True))


def waiting_on(question_id: str, lang: str = "en") -> Session:
    """A session waiting on a question, every question before it answered "1"st option."""
    before = IDS[: IDS.index(question_id)]
    answers = {
        qid: Q.question(qid).options[0].id if Q.question(qid).options else 1 for qid in before
    }
    return Session(
        stage=Stage.QUESTION, lang=lang, question=question_id, answers=answers, history=before
    )


def test_a_reply_to_a_removed_question_is_answered_with_the_next_question():
    q2 = edited(without=("years_in_us",))
    result = step(q2, waiting_on("years_in_us"), Inbound(text="3"))
    assert result.session is not None and result.session.question == "afraid_to_seek_help"
    # The text was meant for the removed question: not read as an answer to the next one.
    assert "afraid_to_seek_help" not in result.session.answers
    assert [r.text for r in result.replies] == [render_question(q2.question(IDS[2]), "en")]
    # and then the conversation goes on as usual
    after = step(q2, result.session, Inbound(text="1"))
    assert after.session is not None and after.session.answers["afraid_to_seek_help"] == "yes"


def test_a_removed_last_question_completes_with_the_answers_so_far():
    last = IDS[-1]
    q2 = edited(without=(last,))
    session = waiting_on(last)
    result = step(q2, session, Inbound(text="1"))
    assert result.session is None
    [completed] = [e for e in result.events if e.type is EventType.COMPLETED]
    assert completed.lang == "en" and last not in completed.answers
    assert set(completed.answers) <= {q.id for q in q2.questions}
    assert completed.answers["status"] == session.answers["status"]
    assert [r.prompt for r in result.replies] == ["message.closing"]


def test_help_stop_and_back_still_work_on_a_removed_question():
    q2 = edited(without=("knows_deported",))
    session = waiting_on("knows_deported")
    helped = step(q2, session, Inbound(text="HELP"))
    assert helped.session is not None and helped.session.question == "would_report_crime"
    assert [r.prompt for r in helped.replies] == ["message.help", "question.would_report_crime"]
    stopped = step(q2, session, Inbound(text="STOP"))
    assert stopped.session is None
    assert [e.type for e in stopped.events] == [EventType.OPTED_OUT]
    back = step(q2, session, Inbound(text="BACK"))
    assert (
        back.session is not None and back.session.question == IDS[IDS.index("knows_deported") - 1]
    )


def test_a_language_no_longer_offered_asks_for_one_and_resumes():
    q2 = edited(languages=("en", "es"))
    session = waiting_on("afraid_to_seek_help", lang="ht")
    asked = step(q2, session, Inbound(text="1"))
    assert asked.session is not None and asked.session.stage is Stage.LANGUAGE
    assert [r.prompt for r in asked.replies] == ["language_prompt"]
    resumed = step(q2, asked.session, Inbound(text="2"))
    assert resumed.session is not None and resumed.session.lang == "es"
    assert resumed.session.question == "afraid_to_seek_help"
    assert resumed.session.answers == session.answers


def test_a_call_resumed_on_a_removed_question_hears_the_next_one():
    q2 = edited(without=("years_in_us",))
    result = step(
        q2,
        waiting_on("years_in_us"),
        Inbound(text="", channel=Channel.VOICE, signal=Signal.CALL_START),
    )
    assert result.session is not None and result.session.question == "afraid_to_seek_help"
    pressed = step(
        q2, waiting_on("years_in_us"), Inbound(text="", keys="12#", channel=Channel.VOICE)
    )
    assert pressed.session is not None and pressed.session.question == "afraid_to_seek_help"


# ------------------------------------------------------------------------------ properties

EDITS = [(qid,) for qid in IDS] + [tuple(IDS[1:]), tuple(IDS[:-1])]
texts = st.one_of(
    st.sampled_from(["1", "2", "1 3", "0", "9", "*", "yes", "HELP", "BACK", "SKIP", "RESTART"]),
    st.sampled_from(["LANGUAGE", "STOP", "START", "SURVEY", "ENCUESTA", "12#", ""]),
    st.text(max_size=30),
)


@st.composite
def old_sessions(draw) -> Session:
    """A session of the questionnaire before the edit, at any question, in any language."""
    lang = draw(st.sampled_from(Q.languages))
    session = waiting_on(draw(st.sampled_from(IDS)), lang)
    stage = draw(st.sampled_from([Stage.QUESTION, Stage.QUESTION, Stage.LANGUAGE]))
    if stage is Stage.LANGUAGE:
        session.stage, session.resume = Stage.LANGUAGE, Stage.QUESTION
    session.misses = draw(st.integers(0, 3))
    return session


def check(q2: Questionnaire, result) -> None:  # noqa: ANN001
    known = {question.id for question in q2.questions}
    for event in result.events:
        if event.type is EventType.COMPLETED:
            assert set(event.answers) <= known and event.lang in q2.languages
    after = result.session
    if after is not None:
        assert set(after.history) <= known
        if after.stage is Stage.QUESTION and after.lang:
            assert after.question in known
        if after.resume is Stage.QUESTION:  # None: nothing left, completes once back
            assert after.question in known or after.question is None
        if after.lang is not None:
            assert after.lang in q2.languages
    for reply in result.replies:
        for lang in (reply.lang,) if reply.lang else q2.languages:
            for prompt in reply.prompt.split():
                assert prompt_speech(q2, prompt, lang).strip()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    session=old_sessions(),
    without=st.sampled_from(EDITS),
    fewer_languages=st.booleans(),
    inputs=st.lists(st.tuples(texts, st.sampled_from(list(Channel))), min_size=1, max_size=8),
)
def test_any_session_of_the_old_questionnaire_is_answered_by_the_new(
    session, without, fewer_languages, inputs
):
    q2 = edited(without=without, languages=("en", "es") if fewer_languages else None)
    current: Session | None = session
    for text, channel in inputs:
        is_keys = channel is Channel.VOICE and bool(text) and set(text) <= set("0123456789*#")
        inbound = Inbound(
            text="" if is_keys else text, keys=text if is_keys else None, channel=channel
        )
        result = step(q2, current, inbound)
        kinds = {event.type for event in result.events}
        if EventType.OPTED_OUT not in kinds and EventType.PAUSED not in kinds:
            assert result.replies, "every message is answered"
        check(q2, result)
        current = result.session
