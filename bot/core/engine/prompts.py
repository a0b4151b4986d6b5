"""What the engine says: the language menu, a message, the pending question."""

from __future__ import annotations

from bot.core.engine.states import Reply, Session, Stage
from bot.core.questionnaire import Questionnaire
from bot.core.render import render_question


def language_prompt(q: Questionnaire) -> Reply:
    """The first message: the language menu in every language at once."""
    lines = [q.language_prompt[lang].strip() for lang in q.languages]
    return Reply("\n".join(lines), None, "language_prompt")


def all_languages(q: Questionnaire, key: str) -> Reply:
    """A message in every language at once, for a respondent whose language is not known."""
    text = "\n\n".join(q.message(key, lang) for lang in q.languages)
    return Reply(text, None, f"message.{key}")


def message(q: Questionnaire, key: str, lang: str) -> Reply:
    """One of the file's messages in a language."""
    return Reply(q.message(key, lang), lang, f"message.{key}")


def pending_prompt(q: Questionnaire, session: Session) -> Reply:
    """What the conversation is waiting for, asked again."""
    if session.stage is Stage.LANGUAGE or session.lang is None:
        return language_prompt(q)
    if session.stage is Stage.CONSENT:
        return message(q, "consent", session.lang)
    question = q.question(session.question)  # type: ignore[arg-type]
    text = render_question(question, session.lang)
    return Reply(text, session.lang, f"question.{question.id}")
