"""A tapped button (WhatsApp quick replies): its payload read as the option it names."""

from __future__ import annotations

from dataclasses import replace

from bot.core.engine.states import Inbound, Session, Stage
from bot.core.questionnaire import Questionnaire, QuestionType


def read_choice(q: Questionnaire, session: Session | None, inbound: Inbound) -> Inbound:
    """A button's payload that names an option id of the pending question, as that option's
    number; any other payload (a question since moved on, a button of another kind) leaves the
    text the button showed, read like typed text."""
    choice, inbound = inbound.choice, replace(inbound, choice=None)
    if session is None or session.stage is not Stage.QUESTION or session.question is None:
        return inbound
    question = q.question(session.question)  # one `q` has (`step` reconciled the session)
    if question.type is QuestionType.NUMBER:
        return inbound
    ids = [option.id for option in question.options]
    if choice not in ids:
        return inbound
    return replace(inbound, text=str(ids.index(choice) + 1))
