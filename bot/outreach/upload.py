"""Queueing a checked upload's invitations, each row on its channel.

The organizer chooses how to invite the whole upload (a text, a phone call, WhatsApp); a
`channel` column (bot/outreach/phone_numbers.py) lets a row choose its own. Every channel the
upload needs is checked before anything is queued, so an upload that cannot go out whole (no
WhatsApp template in its language, no number to call from) is refused with nothing sent.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue

from bot.infra.config import Settings
from bot.outreach.invitations import (
    InvitationCheck,
    InvitationError,
    SendKind,
    enqueue_sends,
    invitation_plan,
    wave_keyword,
)
from bot.outreach.phone_numbers import CHANNELS
from bot.outreach.whatsapp_invites import check_whatsapp, template_body

KIND_OF_CHANNEL = {"sms": SendKind.INVITATION, "whatsapp": SendKind.WHATSAPP, "call": SendKind.CALL}


def by_channel(check: InvitationCheck, default: str) -> dict[str, list[str]]:
    """The upload's valid numbers grouped by channel: a row's own, else `default`."""
    if default not in CHANNELS:
        raise InvitationError(f"choose how to invite: {', '.join(CHANNELS)}")
    groups: dict[str, list[str]] = {}
    own = check.channels or [""] * len(check.valid)
    for number, channel in zip(check.valid, own, strict=True):
        groups.setdefault(channel or default, []).append(number)
    return groups


def plan(
    settings: Settings, redis: Redis, *, wave: str, language: str, channel: str
) -> tuple[SendKind, str]:
    """The send jobs' kind and text for one channel, or InvitationError if it cannot go out."""
    if channel == "whatsapp":
        template = check_whatsapp(settings, language)
        return SendKind.WHATSAPP, template_body(template, wave_keyword(redis, wave, language))
    return invitation_plan(settings, redis, wave=wave, language=language, call=channel == "call")


def queue_upload(
    settings: Settings,
    redis: Redis,
    queue: Queue,
    *,
    wave: str,
    check: InvitationCheck,
    language: str,
    channel: str = "sms",
) -> dict[str, int]:
    """Queue one send job per valid number on its channel; returns how many per channel."""
    groups = by_channel(check, channel)
    plans = {ch: plan(settings, redis, wave=wave, language=language, channel=ch) for ch in groups}
    return {
        ch: enqueue_sends(
            settings,
            redis,
            queue,
            wave=wave,
            numbers=numbers,
            language=language,
            body=plans[ch][1],
            kind=plans[ch][0],
        )
        for ch, numbers in groups.items()
    }


def describe_queued(queued: dict[str, int]) -> str:
    """How many invitations were queued on each channel, for the organizer."""
    names = {"sms": "invitations", "whatsapp": "WhatsApp invitations", "call": "invitation calls"}
    return ", ".join(f"{n} {names[ch]}" for ch, n in queued.items()) or "nothing"
