"""A session kept under one questionnaire, read by another that no longer has all it names.

A conversation keeps the questionnaire it started with (the wave's snapshot, see
bot/records/sessions.py), so this is the fallback for when that snapshot is gone: the session
names a question (or a language) the questionnaire at hand does not have. It must never crash
the webhook. The respondent is answered and kept: their answers to questions that still exist
stay, the missing question is replaced by the next one that exists and applies, and when none
is left the survey completes with the answers so far (as a completed survey would: the closing
message and the answers stored, without the ones the questionnaire no longer asks).
"""

from __future__ import annotations

from bot.core.engine.prompts import message
from bot.core.engine.states import Event, EventType, Session, Stage, Step
from bot.core.engine.walk import final_answers, next_question
from bot.core.questionnaire import Questionnaire


def reconcile(q: Questionnaire, session: Session) -> tuple[Session, bool]:
    """The session made to fit `q`, and whether what it waited on had to change (a text
    meant for it is then not read as a reply to what it waits on now).

    Unchanged (the same object) when it fits. A language `q` no longer speaks sends it back to
    the language menu; a question `q` no longer has moves it to the next one that exists after
    the last answered one (None: nothing left to ask, see `finish_if_done`).
    """
    known = {question.id for question in q.questions}
    waits_on_question = Stage.QUESTION in (session.stage, session.resume)
    lost_question = waits_on_question and session.question not in known
    lost_history = any(h not in known for h in session.history)
    lost_lang = session.lang is not None and session.lang not in q.languages
    if not (lost_question or lost_history or lost_lang):
        return session, False
    session = session.copy()
    session.history = [h for h in session.history if h in known]
    if lost_lang:
        session.lang = None
        if session.stage is not Stage.LANGUAGE:
            session.resume = session.stage
        session.stage = Stage.LANGUAGE
    if lost_question:
        after = session.history[-1] if session.history else None
        session.question = next_question(q, after, session.answers)
        session.misses = 0
    return session, lost_question or lost_lang


def finish_if_done(q: Questionnaire, session: Session) -> Step | None:
    """The completing step of a session left with nothing to ask (its question and every one
    after it are gone), once its language is known; None while there is something to ask."""
    if session.stage is not Stage.QUESTION or session.question is not None or not session.lang:
        return None
    lang = session.lang
    answers = final_answers(q, session.answers)
    return Step(
        None,
        (message(q, "closing", lang),),
        (Event(EventType.COMPLETED, answers=answers, lang=lang),),
    )
