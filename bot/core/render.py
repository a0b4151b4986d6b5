"""How a question looks on a phone: the one place that turns a question into message text.

The engine sends exactly this, and `bot.core.checks` measures exactly this, so the segment
counts the checker reports are the ones respondents (and the coalition's Twilio bill) get.
"""

from __future__ import annotations

from bot.core.questionnaire import Question, QuestionType

# Types whose reply is an option number, so their options are listed under the text.
_LISTS_OPTIONS = (QuestionType.CHOICE, QuestionType.MULTI)


def render_question(question: Question, lang: str) -> str:
    """The SMS text of a question: its text, then one "N. label" line per option."""
    lines = [question.text[lang].strip()]
    if question.type in _LISTS_OPTIONS:
        # N is the 1-based position in the file: the number a respondent replies with.
        lines.extend(
            f"{i}. {option.label[lang].strip()}" for i, option in enumerate(question.options, 1)
        )
    return "\n".join(lines)
