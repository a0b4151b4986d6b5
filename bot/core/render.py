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


# WhatsApp quick replies: at most three buttons go out inside the 24-hour session without
# WhatsApp's approval (Twilio's twilio/quick-reply content type), and WhatsApp cuts a button's
# title at 20 characters.
MAX_QUICK_REPLIES = 3
MAX_BUTTON_TITLE = 20


def quick_replies(question: Question, lang: str) -> tuple[tuple[str, str], ...]:
    """A question's options as WhatsApp buttons, (option id, title) each: a single choice of at
    most three options whose labels fit on a button in this language; otherwise none (the
    question goes as numbered text). The button's id is the option's id, so a tap answers it."""
    if question.type is not QuestionType.CHOICE:
        return ()
    if not 0 < len(question.options) <= MAX_QUICK_REPLIES:
        return ()
    buttons = tuple((o.id, o.label.get(lang, "").strip()) for o in question.options)
    if any(not title or len(title) > MAX_BUTTON_TITLE for _, title in buttons):
        return ()
    return buttons
