"""Property-based tests: arbitrary texts never break the engine, and it keeps to one language."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.engine import (
    Channel,
    EventType,
    Inbound,
    Session,
    Signal,
    Stage,
    language_prompt,
    step,
)
from bot.core.questionnaire import Keyword, load_questionnaire
from bot.core.render import render_question
from bot.core.text import normalize
from bot.core.voice_prompts import prompt_speech

Q = load_questionnaire()


def _known_texts(lang: str) -> frozenset[str]:
    texts = {Q.message(key, lang) for key in Q.messages}
    texts |= {render_question(question, lang) for question in Q.questions}
    skip_offer = Q.message("skip_offer", lang)
    hints = {
        Q.message(k, lang, last=len(question.options))
        for k in ("invalid", "invalid_multi", "invalid_number")
        for question in Q.questions
    }
    texts |= hints | {f"{hint} {skip_offer}" for hint in hints}
    return frozenset(texts)


KNOWN = {lang: _known_texts(lang) for lang in Q.languages}
LANGUAGE_WORDS = {normalize(w) for words in Q.keywords[Keyword.LANGUAGE].values() for w in words}

# Replies people actually send, mixed with anything at all.
meaningful = st.sampled_from(
    sorted(
        {"1", "2", "3", "4", "5", "6", "1 3", "1,3", "1 y 3", "0", "yes", "no", "sí", "wi", "non"}
        | {w for per_lang in Q.keywords.values() for ws in per_lang.values() for w in ws}
        | {w for ws in Q.start_keywords.values() for w in ws}
        | {o.label[lang] for q in Q.questions for o in q.options for lang in Q.languages}
    )
)
texts = st.one_of(meaningful, st.text(max_size=200), st.text(alphabet="0123456789 ,y", max_size=12))


@st.composite
def sessions(draw):
    """Any session the engine could be holding, or none."""
    kind = draw(st.sampled_from(["none", "language", "consent", "question"]))
    if kind == "none":
        return None
    lang = draw(st.sampled_from(Q.languages))
    if kind == "language":
        return Session(stage=Stage.LANGUAGE, lang=draw(st.sampled_from([None, lang])))
    if kind == "consent":
        return Session(stage=Stage.CONSENT, lang=lang)
    index = draw(st.integers(0, len(Q.questions) - 1))
    answers = {
        q.id: draw(st.sampled_from([None, *[o.id for o in q.options]]))
        for q in Q.questions[:index]
        if q.type.value == "choice"
    }
    return Session(
        stage=Stage.QUESTION,
        lang=lang,
        question=Q.questions[index].id,
        answers=answers,
        history=list(answers),
        misses=draw(st.integers(0, 5)),
    )


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    session=sessions(),
    inputs=st.lists(st.tuples(texts, st.booleans(), st.booleans()), min_size=1, max_size=12),
    opted_out=st.booleans(),
    completed=st.booleans(),
)
def test_any_texts_never_raise_and_answer_in_the_respondents_language(
    session, inputs, opted_out, completed
):
    for text, has_media, _ in inputs:
        before_lang = session.lang if session else None
        result = step(
            Q,
            session,
            Inbound(text=text, has_media=has_media, opted_out=opted_out, completed=completed),
        )
        kinds = {event.type for event in result.events}
        if opted_out and EventType.OPTED_IN not in kinds:
            assert result.replies == () and result.session is None
        elif EventType.OPTED_OUT in kinds:
            assert result.replies == ()  # Twilio confirms an opt-out; we say nothing more
        else:
            assert result.replies, "every other message gets an answer"
        after = result.session
        if after is not None:
            assert after.stage in Stage
            if after.stage is Stage.QUESTION:
                assert after.lang in Q.languages
                Q.question(after.question)  # a real question
        language_change = normalize(text) in LANGUAGE_WORDS or (
            after is not None and after.stage is Stage.LANGUAGE
        )
        if before_lang and not language_change and EventType.OPTED_IN not in kinds:
            lang = after.lang if after is not None and after.lang else before_lang
            for reply in result.replies:
                assert reply.lang == lang, (text, reply)
                assert reply.text in KNOWN[lang], (text, reply.text)
        for reply in result.replies:
            if reply.lang is None:
                # A reply for someone whose language is unknown speaks all three at once.
                assert reply.text == language_prompt(Q).text or all(
                    any(known in reply.text for known in KNOWN[lang]) for lang in Q.languages
                ), reply.text
        if EventType.OPTED_OUT in kinds or EventType.COMPLETED in kinds:
            assert result.session is None
        session = result.session
        if session is None:
            opted_out = opted_out and EventType.OPTED_IN not in kinds
            opted_out = opted_out or EventType.OPTED_OUT in kinds


keys = st.text(alphabet="0123456789*#", max_size=6)
call_inputs = st.one_of(
    st.tuples(keys, st.none()),
    st.tuples(meaningful, st.none()),
    st.tuples(st.just(""), st.sampled_from(list(Signal))),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=sessions(), inputs=st.lists(call_inputs, min_size=1, max_size=15))
def test_any_call_never_raises_and_every_reply_can_be_said(session, inputs):
    """Any keys, words or call signals: the engine answers, and a call can say each reply."""
    for pressed, signal in inputs:
        is_keys = signal is None and set(pressed) <= set("0123456789*#")
        inbound = Inbound(
            text="" if is_keys else pressed,
            keys=pressed if is_keys else None,
            channel=Channel.VOICE,
            signal=signal,
        )
        result = step(Q, session, inbound)
        kinds = {event.type for event in result.events}
        assert EventType.OPTED_OUT not in kinds, "a call never opts anyone out of texts"
        if EventType.PAUSED in kinds:
            assert result.replies == () and result.session is not None
            assert result.session.misses == 0
        else:
            assert result.replies, "a caller always hears something"
        for reply in result.replies:
            for lang in (reply.lang,) if reply.lang else Q.languages:
                for prompt in reply.prompt.split():
                    assert prompt_speech(Q, prompt, lang).strip()
        if result.session is not None and result.session.stage is Stage.QUESTION:
            assert result.session.lang in Q.languages
        session = result.session
