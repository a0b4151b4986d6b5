"""Reminders: the same upload again, and one more text to those invited who have not answered.

Whether a person gets a reminder is decided in the send job, from markers kept by pseudonym
only: the wave's "invited" marker (bot/outreach/sending.py writes the day of the last text and
how many reminders went out into it), the wave names in their "completed" marker, their opt-out,
and whether a conversation is in progress. No number is kept for it: the numbers come back with
the upload and leave with the send jobs, as invitations' do. The organizer sees how many were
reminded and how many skipped, never who or why one by one.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum

from redis import Redis
from rq import Queue

from bot.core.questionnaire import Questionnaire, parse_questionnaire
from bot.core.smsencoding import describe as describe_sms
from bot.infra import keys
from bot.infra.config import Settings
from bot.outreach.invitations import (
    InvitationError,
    InvitationPreview,
    SendKind,
    enqueue_sends,
)
from bot.outreach.pacing import Outreach

REMINDER_MESSAGE = "reminder"


class ReminderSkip(StrEnum):
    """Why a person on the list gets no reminder (counted together as "skipped")."""

    ANSWERED = "answered"  # completed the wave
    ANSWERING = "answering"  # a conversation is in progress
    NOT_INVITED = "not_invited"  # this wave never texted them (or is still sending)
    TOO_SOON = "too_soon"  # texted fewer than the wave's reminder days ago
    ENOUGH = "enough"  # had the wave's maximum of reminders


def contact_marker(*, invited: str, last: str, reminders: int) -> str:
    """The value of a wave's "invited" marker once a text went out (days, no time of day)."""
    return json.dumps({"invited": invited, "last": last, "reminders": reminders})


def read_contact(raw: bytes | None) -> dict | None:
    """The marker's content once texted; None while absent or held by a pending job."""
    if not raw or not raw.startswith(b"{"):
        return None
    return json.loads(raw)


def next_reminder(
    redis: Redis, pseudonym_: str, wave: str, outreach: Outreach, today: dt.date
) -> int | ReminderSkip:
    """The number of the reminder this person is due (1, 2...), or why they get none."""
    done, claim, session = redis.mget(
        keys.completed_waves(pseudonym_),
        keys.invite_claim(pseudonym_, wave),
        keys.session(pseudonym_),
    )
    if done and wave in done.decode().split(","):
        return ReminderSkip.ANSWERED
    if session is not None:
        return ReminderSkip.ANSWERING
    contact = read_contact(claim)
    if contact is None:
        return ReminderSkip.NOT_INVITED
    if contact["reminders"] >= outreach.max_reminders:
        return ReminderSkip.ENOUGH
    if (today - dt.date.fromisoformat(contact["last"])).days < outreach.remind_after_days:
        return ReminderSkip.TOO_SOON
    return contact["reminders"] + 1


# ---------------------------------------------------------------------------------- the text


def reminder_text(q: Questionnaire, language: str) -> str:
    """The questionnaire's reminder in `language` (its `messages.reminder`)."""
    if language not in q.languages:
        raise InvitationError(
            f"the questionnaire has no {language!r} text (it has {', '.join(q.languages)})"
        )
    if not q.messages.get(REMINDER_MESSAGE, {}).get(language, "").strip():
        raise InvitationError(f"no reminder text in {language!r}: add messages.reminder")
    return q.message(REMINDER_MESSAGE, language)


def preview_reminders(q: Questionnaire, language: str) -> list[InvitationPreview]:
    """The exact reminder a language's people will receive, and what it costs."""
    text = reminder_text(q, language)
    return [InvitationPreview(language, text, describe_sms(text))]


def wave_reminder(redis: Redis, wave: str, language: str) -> str:
    """The reminder text of an open wave (from the registry of open waves)."""
    raw = redis.hget(keys.WAVES_OPEN, wave)
    if raw is None:
        raise InvitationError(f"wave {wave!r} is not open: only an open wave can remind")
    return reminder_text(parse_questionnaire(json.loads(raw)["questionnaire"]), language)


def queue_reminders(
    settings: Settings, redis: Redis, queue: Queue, *, wave: str, numbers: list[str], language: str
) -> int:
    """Queue one reminder job per checked E.164 number; each decides when it runs whether its
    person is due one. Returns how many were queued."""
    body = wave_reminder(redis, wave, language)
    return enqueue_sends(
        settings,
        redis,
        queue,
        wave=wave,
        numbers=numbers,
        language=language,
        body=body,
        kind=SendKind.REMINDER,
    )
