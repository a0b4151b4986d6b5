"""Every respondent-facing text present in each of the file's languages."""

from __future__ import annotations

from collections.abc import Iterator

from bot.core.checks.findings import Finding
from bot.core.questionnaire import REQUIRED_MESSAGES, Questionnaire

# Messages sent outside a conversation, by an organizer's command: optional, but a wave without
# one cannot send it.
OUTREACH_MESSAGES = {"reminder": "`surveybot wave remind`"}


def respondent_texts(q: Questionnaire) -> Iterator[tuple[str, dict[str, str]]]:
    """Every respondent-facing text mapping with the place it comes from."""
    yield "language_prompt", q.language_prompt
    for key, texts in q.messages.items():
        yield f"messages.{key}", texts
    for question in q.questions:
        yield f"question {question.id}.text", question.text
        for option in question.options:
            yield f"question {question.id}.option {option.id}", option.label


def check_translations(q: Questionnaire) -> Iterator[Finding]:
    """Every text in every language of the file, and a name for each language."""
    if len(set(q.languages)) != len(q.languages):
        yield Finding("error", "languages", "a language is listed twice")
    for key in REQUIRED_MESSAGES:
        if key not in q.messages:
            yield Finding("error", f"messages.{key}", "missing: the engine sends this message")
    for key, sender in OUTREACH_MESSAGES.items():
        if key not in q.messages:
            yield Finding("warning", f"messages.{key}", f"missing: {sender} sends this message")
    known = set(q.languages)
    for where, text in respondent_texts(q):
        for lang in q.languages:
            if not text.get(lang, "").strip():
                yield Finding("error", where, f"no {lang} text")
        for lang in sorted(set(text) - known):
            yield Finding("warning", where, f"text in {lang}, which is not in languages")
    for lang in q.languages:
        if not q.language_names.get(lang, "").strip():
            # The engine also accepts a language's name as the answer to the language prompt.
            yield Finding("warning", "language_names", f"no name for {lang}")
