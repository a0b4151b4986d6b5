"""Twilio's status callbacks for invitations and reminders: each final status counted once in
its wave's progress; error 21610 marks the recipient opted out."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from bot.core.text import is_number
from bot.infra import keys
from bot.infra.config import Settings
from bot.infra.privacy import message_digest, pseudonym_for
from bot.infra.stats import count
from bot.outreach.invitations import (
    UNSUBSCRIBED,
    InviteCount,
    SendKind,
    stat_field,
)
from bot.outreach.optouts import opted_out_once

FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed"})


def record_invitation_status(
    settings: Settings,
    redis: Redis,
    queue: Queue,
    *,
    message_sid: str,
    to: str,
    status: str,
    error_code: str,
) -> str | None:
    """Count a status callback in its wave's progress when the message was an invitation;
    returns that wave. Error 21610 marks the recipient opted out whatever the message was.

    Only a final status counts, once per message: the first one takes the message's entry.
    `to` is used for the pseudonym and dropped.
    """
    if error_code == str(UNSUBSCRIBED) and to:
        # Once per message: a replayed callback never opts them out again (keys.opt_messages).
        opted_out_once(settings, redis, queue, pseudonym_for(settings, to), message_sid)
    if status not in FINAL_STATUSES or not message_sid:
        return None
    key = keys.invite_message(message_digest(settings.PSEUDONYM_KEY, message_sid))
    with redis.pipeline() as pipe:  # MULTI: GET and DEL as one step, so one callback wins
        pipe.get(key)
        pipe.delete(key)
        raw_wave, _ = pipe.execute()
    if raw_wave is None:
        return None
    wave, _, kind = raw_wave.decode().partition("#")  # "wave" or "wave#reminder"
    if error_code == str(UNSUBSCRIBED):
        outcome = InviteCount.OPTED_OUT
    elif status == "delivered":
        outcome = InviteCount.DELIVERED
    elif status == "undelivered":
        outcome = InviteCount.UNDELIVERED
    else:
        outcome = InviteCount.FAILED
    stats = keys.invite_stats(wave)
    with redis.pipeline() as pipe:
        errors = [f"error:{error_code}"] if is_number(error_code) and len(error_code) <= 6 else []
        count(pipe, stats, stat_field(kind or SendKind.INVITATION, outcome), *errors)
        pipe.execute()
    return wave
