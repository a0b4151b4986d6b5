"""The conversation engine: a pure function from (questionnaire, session, inbound text) to
(session, replies, events).

No I/O happens here, so SMS and voice share it and the tests can walk every path. The caller
loads the session, calls `step`, then saves the new session and acts on the events (store a
completed response, record an opt-out) in one atomic Redis transaction.

The package, by concern: `states` (the data a step takes and gives), `replies` (reading an
answer), `prompts` (what is said), `walk` (skip logic and moving on), `keywords`, `keys` (a
phone's keypad) and `conversation` (`step` itself, and `outside_wave`).
"""

from __future__ import annotations

from bot.core.engine.conversation import outside_wave, step
from bot.core.engine.keys import KEY_BACK, KEY_REPEAT, KEY_SKIP, read_keys
from bot.core.engine.prompts import all_languages, language_prompt, pending_prompt
from bot.core.engine.replies import LANGUAGE_WORDS, NO_WORDS, YES_WORDS, parse_answer
from bot.core.engine.states import (
    Channel,
    Event,
    EventType,
    Inbound,
    Reply,
    Session,
    Signal,
    Stage,
    Step,
)
from bot.core.engine.walk import (
    MISSES_BEFORE_SKIP_OFFER,
    VOICE_MISSES_BEFORE_PAUSE,
    VOICE_MISSES_BEFORE_SKIP_OFFER,
    applies,
    final_answers,
    next_question,
)

__all__ = [
    "KEY_BACK",
    "KEY_REPEAT",
    "KEY_SKIP",
    "LANGUAGE_WORDS",
    "MISSES_BEFORE_SKIP_OFFER",
    "NO_WORDS",
    "VOICE_MISSES_BEFORE_PAUSE",
    "VOICE_MISSES_BEFORE_SKIP_OFFER",
    "YES_WORDS",
    "Channel",
    "Event",
    "EventType",
    "Inbound",
    "Reply",
    "Session",
    "Signal",
    "Stage",
    "Step",
    "all_languages",
    "applies",
    "final_answers",
    "language_prompt",
    "next_question",
    "outside_wave",
    "parse_answer",
    "pending_prompt",
    "read_keys",
    "step",
]
