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
from bot.outreach.ratelimit import rate_of


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


def wave_estimate(
    settings: Settings, redis: Redis, wave: str, count: int, kind: str = SendKind.INVITATION
) -> pacing.Estimate:
    """How long `count` sends of `kind` take at the wave's window, the daily caps already used
    today and the kind's own rate (the CLI's and the dashboard's estimate before sending)."""
    outreach = pacing.registry_outreach(settings, redis, wave)
    today = pacing.day_of(clock.now(), settings)
    used = pacing.counted(redis, day=today, wave=wave)
    rate, _, _ = rate_of(settings, kind)
    return pacing.estimate(count, rate=rate, outreach=outreach, used_today=used)


def estimated_end(settings: Settings, redis: Redis, wave: str) -> dt.date | None:
    """The day the wave's pending invitations and reminders should all have gone out, at its
    window, caps and each pace (None: nothing pending). Sends that share a pace (texts and
    reminders) are reckoned together; the paces share the caps, so this is the latest of
    their ends, each reckoned as if it had the day to itself."""
    outreach = pacing.registry_outreach(settings, redis, wave)
    today = pacing.day_of(clock.now(), settings)
    used = pacing.counted(redis, day=today, wave=wave)
    by_pace: dict[str, tuple[float, int]] = {}
    for kind in SendKind:
        rate, _, limiter = rate_of(settings, kind)
        pending = invitation_progress(redis, wave, kind).pending
        by_pace[limiter] = (rate, by_pace.get(limiter, (rate, 0))[1] + pending)
    ends = [
        pacing.estimated_end(n, rate=rate, outreach=outreach, today=today, used_today=used)
        for rate, n in by_pace.values()
    ]
    return max((e for e in ends if e is not None), default=None)


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
