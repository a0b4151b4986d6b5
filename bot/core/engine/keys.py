"""A phone's keypad: keys read as an answer, a command, or a request to repeat."""

from __future__ import annotations

from dataclasses import replace

from bot.core.engine.states import Inbound, Session, Signal, Stage
from bot.core.questionnaire import Keyword, Questionnaire, QuestionType

# Keypad commands by phone: * says the question again, 0 skips, 9 goes back. A question whose
# answer is a number takes 0 and 9 as digits; `surveybot survey check` flags a question with
# nine or more options, whose 9th option the keypad could not choose.
KEY_REPEAT = "*"
KEY_SKIP = "0"
KEY_BACK = "9"


def read_keys(q: Questionnaire, session: Session | None, inbound: Inbound) -> Inbound:
    """Keys pressed on a call, read as an answer, a command or a request to repeat."""
    keys = (inbound.keys or "").replace("#", "")
    if KEY_REPEAT in keys:
        return replace(inbound, text="", keys=None, signal=Signal.REPEAT)
    asking = session.question if session and session.stage is Stage.QUESTION else None
    numeric = asking is not None and q.question(asking).type is QuestionType.NUMBER
    if not numeric and keys == KEY_SKIP:
        return replace(inbound, text="", keys=None, keyword=Keyword.SKIP)
    if not numeric and keys == KEY_BACK:
        return replace(inbound, text="", keys=None, keyword=Keyword.BACK)
    return replace(inbound, text=keys, keys=None)
