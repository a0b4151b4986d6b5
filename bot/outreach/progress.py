"""A wave's outreach progress for organizers: counts of people (queued, waiting for their
window or a day under the caps, sent, delivered, failed) and when the sending should end.

Exact counts: they are organizers' operations figures, not respondent data (README: privacy).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from redis import Redis

from bot.infra import clock, keys
from bot.infra.config import Settings
from bot.outreach import pacing
from bot.outreach.invitations import InviteCount, SendKind, stat_field


@dataclass(frozen=True)
class InvitationProgress:
    """A wave's invitations (or reminders) so far."""

    queued: int
    pending: int  # queued, not yet sent or given up (waiting ones included)
    waiting: int  # waiting for the recipient's window or a day under the daily caps
    sent: int
    delivered: int
    failed: int  # refused by Twilio, failed, undelivered, or interrupted mid-send
    opted_out: int
    skipped: int  # opted out, already invited (reminded) or answered, or the wave closed first


def invitation_progress(
    redis: Redis, wave: str, kind: str = SendKind.INVITATION
) -> InvitationProgress:
    """Counters of a wave's invitations, from the send jobs and Twilio's status callbacks."""
    raw = {k.decode(): int(v) for k, v in redis.hgetall(keys.invite_stats(wave)).items()}

    def count(name: str) -> int:
        return raw.get(stat_field(kind, name), 0)

    return InvitationProgress(
        queued=count(InviteCount.QUEUED),
        pending=max(0, count(InviteCount.QUEUED) - count(InviteCount.PROCESSED)),
        waiting=max(0, count(InviteCount.WAITING)),
        sent=count(InviteCount.SENT),
        delivered=count(InviteCount.DELIVERED),
        failed=count(InviteCount.FAILED)
        + count(InviteCount.UNDELIVERED)
        + count(InviteCount.INTERRUPTED),
        opted_out=count(InviteCount.OPTED_OUT),
        skipped=count(InviteCount.SKIPPED)
        + count(InviteCount.CANCELED)
        + count(InviteCount.OPTED_OUT),
    )


def estimated_end(settings: Settings, redis: Redis, wave: str) -> dt.date | None:
    """The day the wave's pending invitations and reminders should all have gone out, at its
    window, caps and the sending rate (None: nothing pending)."""
    pending = sum(invitation_progress(redis, wave, kind).pending for kind in SendKind)
    outreach = pacing.registry_outreach(settings, redis, wave)
    today = pacing.day_of(clock.now(), settings)
    return pacing.estimated_end(
        pending,
        rate=settings.SEND_RATE_PER_SECOND,
        outreach=outreach,
        today=today,
        used_today=pacing.counted(redis, day=today, wave=wave),
    )


def outreach_lines(settings: Settings, redis: Redis, wave: str) -> list[str]:
    """The progress as lines for the CLI: invitations, reminders, the estimated end."""
    lines = []
    labels = {
        SendKind.INVITATION: "invitations by text",
        SendKind.REMINDER: "reminders",
        SendKind.CALL: "invitations by call",
        SendKind.WHATSAPP: "invitations on WhatsApp",
    }
    for kind in SendKind:
        p = invitation_progress(redis, wave, kind)
        if not p.queued:
            continue
        lines.append(
            f"{labels.get(kind, kind)}: {p.queued} queued, {p.pending} pending "
            f"({p.waiting} waiting for their window or day), {p.sent} sent, "
            f"{p.delivered} delivered, {p.failed} failed, {p.skipped} skipped"
        )
    end = estimated_end(settings, redis, wave)
    if end is not None:
        lines.append(f"estimated end: {end.isoformat()}")
    return lines
