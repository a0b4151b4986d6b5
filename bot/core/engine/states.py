"""Where a conversation stands, what comes in and what a step gives back: plain data."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from bot.core.optout import OptOutType
from bot.core.questionnaire import Keyword


class Stage(StrEnum):
    """Where a conversation waits."""

    LANGUAGE = "language"
    CONSENT = "consent"
    QUESTION = "question"


class Channel(StrEnum):
    """How the respondent reaches the bot; both share sessions, answers and rules."""

    SMS = "sms"
    VOICE = "voice"


class Signal(StrEnum):
    """What a phone call says besides an answer."""

    CALL_START = "call_start"  # a call was answered: greet, or resume where they left off
    REPEAT = "repeat"  # say the pending question again (keypad *)


class EventType(StrEnum):
    """What happened in a step that the edge must act on."""

    STARTED = "started"  # consent given: counts as a started survey
    DECLINED = "declined"
    COMPLETED = "completed"
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    RESTARTED = "restarted"
    PAUSED = "paused"  # too many misses by phone: end the call, keep the session to resume


@dataclass(frozen=True)
class Event:
    """An outcome of a step; `answers` and `lang` are set on COMPLETED."""

    type: EventType
    answers: dict[str, Any] | None = None
    lang: str | None = None


@dataclass(frozen=True)
class Reply:
    """One outbound message; `lang` is None when it speaks all languages at once.

    `prompt` names what the text is ("language_prompt", "message.<key>" or "question.<id>"),
    so a channel can say it in its own words (the phone reads options aloud, or plays a
    recording) instead of sending the SMS text.
    """

    text: str
    lang: str | None
    prompt: str = ""


@dataclass(frozen=True)
class Inbound:
    """One inbound message and what the edge knows about its sender."""

    text: str
    has_media: bool = False
    opted_out: bool = False
    completed: bool = False  # this respondent already completed the current wave
    language: str | None = None  # already known (an invitation's), so no language menu
    channel: Channel = Channel.SMS
    signal: Signal | None = None
    keyword: Keyword | None = None  # a command given without words (keypad 0 skips, 9 goes back)
    keys: str | None = None  # keys pressed on a phone's keypad, read by `read_keys`
    # Back after a pause, or texting after a call (the edge knows when the last step was):
    # a text that answers nothing is greeted with "welcome back" and the pending question.
    returning: bool = False
    opt_out_type: OptOutType | None = None  # what Twilio's Advanced Opt-Out made of the text
    choice: str | None = None  # a tapped button's payload (an option id), read by `read_choice`
    # No one else confirms an opt-out on this channel (WhatsApp: Twilio's Advanced Opt-Out
    # answers SMS only): the bot confirms STOP itself, in the person's language.
    confirm_opt_out: bool = False
    invited_call: bool = False  # a call the bot placed to invite: "stop" opts out of outreach


@dataclass
class Session:
    """A conversation in flight: everything needed to resume it, nothing about who it is."""

    stage: Stage = Stage.LANGUAGE
    lang: str | None = None
    question: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    misses: int = 0
    resume: Stage | None = None  # stage to return to after a LANGUAGE change

    def to_dict(self) -> dict[str, Any]:
        """Plain data for storage."""
        return {
            "stage": self.stage.value,
            "lang": self.lang,
            "question": self.question,
            "answers": dict(self.answers),
            "history": list(self.history),
            "misses": self.misses,
            "resume": self.resume.value if self.resume else None,
        }

    def copy(self) -> Session:
        """A copy the engine may change (answer values are never changed in place)."""
        return replace(self, answers=dict(self.answers), history=list(self.history))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        """Rebuild a session saved with `to_dict`."""
        data = dict(data)
        data["stage"] = Stage(data["stage"])
        if data.get("resume"):
            data["resume"] = Stage(data["resume"])
        return cls(**data)


@dataclass(frozen=True)
class Step:
    """Result of one step; `session` None means the conversation is over (or never began)."""

    session: Session | None
    replies: tuple[Reply, ...] = ()
    events: tuple[Event, ...] = ()
