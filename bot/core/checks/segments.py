"""Every text measured as it is sent: SMS segments and encoding cost money and order."""

from __future__ import annotations

from collections.abc import Iterator

from bot.core.checks.findings import WITH_OPTIONS, Finding
from bot.core.engine import all_languages, language_prompt
from bot.core.questionnaire import Questionnaire
from bot.core.render import render_question
from bot.core.smsencoding import describe, summary

# Segments a message may use before the checker warns. The consent message carries the privacy
# notice (what is kept, no encryption, SKIP, STOP, HELP), so it may use one more.
SEGMENT_LIMIT = 2
SEGMENT_LIMITS = {"consent": 3}
# Messages the engine sends in every language at once, joined by a blank line, when it does not
# know the respondent's language yet (see `bot.core.engine.all_languages`). Three messages in one:
# the limit is three segments.
ALL_LANGUAGE_MESSAGES = ("help", "text_only", "already_completed", "opted_in")
ALL_LANGUAGE_LIMIT = 3


def _sms_finding(where: str, text: str, limit: int) -> Finding:
    info = describe(text)
    message = summary(info)
    if info.segments > limit:
        return Finding("warning", where, f"{message}: more than {limit} segments")
    return Finding("info", where, message)


def _sent_message(q: Questionnaire, key: str, lang: str) -> str | None:
    """A message as sent, or None when it is missing or its placeholders are broken."""
    if not q.messages.get(key, {}).get(lang, "").strip():
        return None
    try:
        return q.message(key, lang)
    except (KeyError, IndexError, ValueError, AttributeError):
        return None  # already reported by the placeholder check


def check_segments(q: Questionnaire) -> Iterator[Finding]:
    """Measure every text exactly as the engine sends it."""
    langs = q.languages
    if all(q.language_prompt.get(lang, "").strip() for lang in langs):
        yield _sms_finding("language_prompt", language_prompt(q).text, SEGMENT_LIMIT)
    for key in q.messages:
        limit = SEGMENT_LIMITS.get(key, SEGMENT_LIMIT)
        sent = {lang: _sent_message(q, key, lang) for lang in langs}
        for lang, text in sent.items():
            if text is not None:
                yield _sms_finding(f"messages.{key}[{lang}]", text, limit)
        if key in ALL_LANGUAGE_MESSAGES and len(langs) > 1 and None not in sent.values():
            combined = all_languages(q, key).text
            yield _sms_finding(f"messages.{key}[all languages]", combined, ALL_LANGUAGE_LIMIT)
    for question in q.questions:
        for lang in langs:
            texts = [question.text, *(option.label for option in question.options)]
            if question.type not in WITH_OPTIONS:
                texts = [question.text]
            if all(text.get(lang, "").strip() for text in texts):
                rendered = render_question(question, lang)
                yield _sms_finding(f"question {question.id}[{lang}]", rendered, SEGMENT_LIMIT)
