"""Keywords (HELP, LANGUAGE, BACK, SKIP, RESTART, START, STOP) and what each one does."""

from __future__ import annotations

from bot.core.engine.prompts import all_languages, language_prompt, message, pending_prompt
from bot.core.engine.states import Event, EventType, Session, Stage, Step
from bot.core.engine.walk import advance, ask, next_question
from bot.core.questionnaire import Keyword, Questionnaire
from bot.core.twilio_words import TWILIO_HELP_WORDS, TWILIO_START_WORDS, TWILIO_STOP_WORDS


def keyword_and_language(q: Questionnaire, norm: str) -> tuple[Keyword | None, str | None]:
    """The keyword a text is, and the language of the word (None for Twilio's own words,
    which people text whatever their language)."""
    found = q.keyword_index.get(norm)
    if found is None:
        return None, None
    keyword, lang = found
    universal = norm in (*TWILIO_START_WORDS, *TWILIO_STOP_WORDS, *TWILIO_HELP_WORDS)
    return keyword, None if universal else lang


def keyword_of(q: Questionnaire, norm: str) -> Keyword | None:
    """The keyword a normalized text is, if any."""
    return keyword_and_language(q, norm)[0]


def start_language(q: Questionnaire, norm: str) -> str | None:
    """The language whose start keyword a normalized text is, if any."""
    return q.start_index.get(norm)


def keyword_step(q: Questionnaire, session: Session, keyword: Keyword) -> Step:
    """Act on a keyword said in a conversation in flight."""
    lang = session.lang
    if keyword is Keyword.HELP:
        help_reply = message(q, "help", lang) if lang else all_languages(q, "help")
        return Step(session, (help_reply, pending_prompt(q, session)))
    if keyword is Keyword.LANGUAGE:
        if session.stage is not Stage.LANGUAGE:
            session.resume = session.stage
        session.stage = Stage.LANGUAGE
        return Step(session, (language_prompt(q),))
    if session.stage is Stage.LANGUAGE or lang is None:
        return Step(session, (pending_prompt(q, session),))
    if session.stage is Stage.CONSENT:
        if keyword is Keyword.BACK:
            session.stage = Stage.LANGUAGE
            session.resume = None
        return Step(session, (pending_prompt(q, session),))
    question = q.question(session.question)  # type: ignore[arg-type]
    if keyword is Keyword.RESTART:
        session.answers.clear()
        session.history.clear()
        first = next_question(q, None, session.answers)
        assert first is not None
        step = ask(q, session, first, message(q, "restarted", lang))
        return Step(step.session, step.replies, (Event(EventType.RESTARTED),))
    if keyword is Keyword.BACK:
        if not session.history:
            return Step(session, (message(q, "back_at_start", lang), pending_prompt(q, session)))
        previous = session.history.pop()
        session.answers.pop(previous, None)
        return ask(q, session, previous)
    if keyword is Keyword.SKIP:
        if not question.skippable:
            return Step(session, (message(q, "not_skippable", lang), pending_prompt(q, session)))
        return advance(q, session, None)
    # START while in a conversation: nothing to opt into, carry on.
    return Step(session, (message(q, "resumed", lang), pending_prompt(q, session)))
