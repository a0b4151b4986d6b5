"""Walking the questionnaire: skip logic, asking, answering, and missed answers."""

from __future__ import annotations

from typing import Any

from bot.core.engine.prompts import message, pending_prompt
from bot.core.engine.states import Channel, Event, EventType, Reply, Session, Stage, Step
from bot.core.questionnaire import Question, Questionnaire, QuestionType

MISSES_BEFORE_SKIP_OFFER = 3
# By phone a missed answer costs the caller more: offer to skip after the second miss, and
# after the third end the call for now (the session is kept, so calling again resumes).
VOICE_MISSES_BEFORE_SKIP_OFFER = 2
VOICE_MISSES_BEFORE_PAUSE = 3


def applies(question: Question, answers: dict[str, Any]) -> bool:
    """Whether a question's skip logic lets it be asked, given the answers so far."""
    for earlier, wanted in question.when.items():
        value = answers.get(earlier)
        chosen = set(value) if isinstance(value, list) else {value}
        if not chosen & set(wanted):
            return False
    return True


def next_question(q: Questionnaire, after: str | None, answers: dict[str, Any]) -> str | None:
    """The next question to ask after `after` (None: from the start), or None when done."""
    start = 0 if after is None else q.index(after) + 1
    for question in q.questions[start:]:
        if applies(question, answers):
            return question.id
    return None


def final_answers(q: Questionnaire, answers: dict[str, Any]) -> dict[str, Any]:
    """Answers in file order, without those whose skip logic no longer holds (after BACK)."""
    out: dict[str, Any] = {}
    for question in q.questions:
        if question.id in answers and applies(question, out):
            out[question.id] = answers[question.id]
    return out


def ask(q: Questionnaire, session: Session, question_id: str, *before: Reply) -> Step:
    """Move the session to a question and ask it, after any `before` replies."""
    session.stage = Stage.QUESTION
    session.question = question_id
    session.misses = 0
    return Step(session, (*before, pending_prompt(q, session)))


def advance(q: Questionnaire, session: Session, value: Any) -> Step:
    """Record an answer and ask the next question, or complete the survey."""
    current = session.question
    assert current is not None
    session.answers[current] = value
    session.history.append(current)
    following = next_question(q, current, session.answers)
    if following is not None:
        return ask(q, session, following)
    lang = session.lang
    assert lang is not None
    answers = final_answers(q, session.answers)
    return Step(
        None,
        (message(q, "closing", lang),),
        (Event(EventType.COMPLETED, answers=answers, lang=lang),),
    )


def miss(
    q: Questionnaire, session: Session, channel: Channel = Channel.SMS, *, near: bool = False
) -> Step:
    """A reply that answers nothing: hint, offer to skip, or pause a call.

    A near miss (`near`: numbers, but none that answers, like 6 for five options; at consent,
    any reply at all) shows the respondent is looking at the question: a text gets the
    one-line hint ("Reply 1 to 5") without the question again. A call always says the
    question again.
    """
    session.misses += 1
    lang = session.lang
    voice = channel is Channel.VOICE
    if voice and session.misses >= VOICE_MISSES_BEFORE_PAUSE:
        session.misses = 0
        return Step(session, (), (Event(EventType.PAUSED, lang=lang),))
    if session.stage is Stage.CONSENT and lang is not None and (near or not voice):
        # They read the consent a moment ago: one line on how to answer, not all of it again
        # (silence on a call may mean they did not hear it: then it is said again).
        return Step(session, (message(q, "consent_hint", lang),))
    if session.stage is not Stage.QUESTION or lang is None:
        return Step(session, (pending_prompt(q, session),))
    question = q.question(session.question)  # type: ignore[arg-type]
    hint_key = {
        QuestionType.MULTI: "invalid_multi",
        QuestionType.NUMBER: "invalid_number",
    }.get(question.type, "invalid")
    hint = q.message(hint_key, lang, last=len(question.options))
    prompt = f"message.{hint_key}"
    offer_after = VOICE_MISSES_BEFORE_SKIP_OFFER if voice else MISSES_BEFORE_SKIP_OFFER
    if session.misses >= offer_after and question.skippable:
        hint = f"{hint} {q.message('skip_offer', lang)}"
        prompt = f"{prompt} message.skip_offer"  # one SMS, two spoken prompts
    if near and not voice:
        return Step(session, (Reply(hint, lang, prompt),))
    return Step(session, (Reply(hint, lang, prompt), pending_prompt(q, session)))
