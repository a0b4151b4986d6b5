"""Sending invitations and reminders: one job per number, paced by the shared send-rate
limiter (bot/outreach/ratelimit.py), inside the recipient's window and under the daily caps
(bot/outreach/gates.py, pacing.py): a job that may not send now schedules itself for when it may.

Before Twilio's call the job marks its claim on the person "sending" (one SET, atomic), so a run
of the same job after its worker died mid-call (RQ retries an abandoned job) sends nothing
twice: it counts the person as interrupted instead.

A job holds its number only while it is pending. Every outcome is settled inside the job, so
the job always ends successfully and RQ deletes it at once (result_ttl=0): sent, opted out
(Twilio error 21610), refused for good (counted as failed), or a temporary error (HTTP 429, 5xx,
no connection) which hands RQ a `Retry` with backoff, and on the last attempt is counted as
failed. Log lines and exceptions name the job, the wave and Twilio's error code; never the
number, and never Twilio's message text (it can quote the number).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from rq import Retry
from rq.job import Job

from bot.infra import clock, keys
from bot.infra.config import Settings
from bot.infra.outbound import send_sms, twilio_caller, twilio_sender
from bot.infra.privacy import message_digest, pseudonym_for
from bot.infra.queues import get_queue
from bot.infra.rotation import carry_over, carry_over_opt_out
from bot.infra.sealing import open_text
from bot.infra.stats import count
from bot.infra.twilio_rest import call_twilio, retry_later
from bot.outreach import pacing
from bot.outreach.gates import NOT_BOOKED, defer, in_window, window_opens
from bot.outreach.invitations import (
    CLAIM_PENDING_TTL_SECONDS,
    INVITED_TTL_SECONDS,
    MESSAGE_MAP_TTL_SECONDS,
    SEND_RETRY_INTERVALS,
    UNSUBSCRIBED,
    InviteCount,
    SendKind,
    stat_field,
)
from bot.outreach.optouts import mark_opted_out
from bot.outreach.pacing import wave_outreach
from bot.outreach.ratelimit import SendRateLimiter, SlotTimeout, rate_of
from bot.outreach.reminders import ReminderSkip, contact_marker, next_reminder, read_contact
from bot.outreach.whatsapp_invites import whatsapp_inviter

log = logging.getLogger(__name__)

TWILIO_TIMEOUT_SECONDS = 30.0
SENDING = ":sending"  # a claim's value while Twilio's call is under way: its job's id + this


def _sender(settings: Settings, redis: Redis) -> Callable[[str, str], str | None]:
    """A function sending one text through Twilio (with a timeout), or without credentials to
    the simulator. Built before the wait for a slot, so the send starts right on it."""
    if not settings.twilio_configured:
        return lambda to, body: send_sms(settings, redis, to, body)
    return twilio_sender(settings, timeout=TWILIO_TIMEOUT_SECONDS)


def _channel(settings: Settings, redis: Redis, kind: str) -> tuple[Callable, float, str]:
    """How a kind of send goes out: its sender, and its own rate and rate-limiter key."""
    rate, _, limiter_key = rate_of(settings, kind)
    if kind == SendKind.CALL:
        return twilio_caller(settings, timeout=TWILIO_TIMEOUT_SECONDS), rate, limiter_key
    if kind == SendKind.WHATSAPP:  # a template: business-initiated, no 24-hour window needed
        return whatsapp_inviter(settings, timeout=TWILIO_TIMEOUT_SECONDS), rate, limiter_key
    return _sender(settings, redis), rate, limiter_key


@dataclass(frozen=True)
class _Tally:
    """Counts one send job's outcome in its wave's hash (a reminder's fields are prefixed;
    Twilio's error codes are shared); a job that had waited is no longer waiting."""

    redis: Redis
    wave: str
    kind: str
    deferred: bool

    def done(self, *outcomes: str, errors: tuple[str, ...] = (), pipe=None) -> None:  # noqa: ANN001
        """Count the outcome (queued on `pipe`, else now)."""
        stats = keys.invite_stats(self.wave)
        target = pipe if pipe is not None else self.redis.pipeline()
        fields = [stat_field(self.kind, o) for o in (*outcomes, InviteCount.PROCESSED)]
        count(target, stats, *fields, *errors)
        if self.deferred:
            target.hincrby(stats, stat_field(self.kind, InviteCount.WAITING), -1)
        if pipe is None:
            target.execute()


def _opted_out(settings: Settings, redis: Redis, number: str, pseudonym_: str) -> bool:
    """Whether this respondent opted out: the Redis marker, else the database's opt-out table
    (the upload no longer filters them, so that an organizer never learns who did). During a
    key rotation, what is kept under the number's old pseudonyms is carried over first."""
    if settings.PSEUDONYM_OLD_KEYS:
        carry_over(redis, settings, number)
    if redis.exists(keys.opted_out(pseudonym_)):
        return True
    if not settings.DATABASE_URL:
        return False
    from bot.infra.db import session_scope
    from bot.infra.models import OptOut

    with session_scope(settings.DATABASE_URL) as session:
        if settings.PSEUDONYM_OLD_KEYS and carry_over_opt_out(session, settings, number):
            return True
        return session.get(OptOut, pseudonym_) is not None


def _wait(settings, redis, job, number, outreach, args, kind, booked, deferred, now) -> str | None:  # noqa: ANN001
    """Schedule the send for later when the recipient's window is closed or today is full
    (returns the outcome); None when it may go now, today's place counted."""
    wave = args[0]
    opens = window_opens(settings, number, outreach, now)
    if opens > now:
        refund = (booked, outreach) if booked != NOT_BOOKED else None
        return defer(
            redis,
            job,
            at=opens,
            args=args,
            kind=kind,
            booked=NOT_BOOKED,
            deferred=deferred,
            refund=refund,
        )
    today = pacing.day_of(now, settings)
    if booked == today:
        return None
    day = pacing.reserve(redis, day=today, wave=wave, outreach=outreach)
    if day == today:
        return None
    # Today is full: wait for the window of the first day with room, holding the place there.
    day = day if day >= 0 else today + pacing.HORIZON_DAYS
    at = window_opens(settings, number, outreach, max(now, pacing.day_start(day, settings)))
    return defer(redis, job, at=at, args=args, kind=kind, booked=day, deferred=deferred)


def send_invitation(
    settings: Settings,
    redis: Redis,
    job: Job | None,
    *,
    wave: str,
    number: str,
    language: str,
    body: str,
    kind: str = SendKind.INVITATION,
    booked: int = NOT_BOOKED,
    deferred: bool = False,
) -> str | Retry:
    """Text one invitation or reminder (inside the recipient's window, under the daily caps,
    at the shared rate) as `job`; returns the outcome, never the number.

    `booked` is the day a job that waited for a day under the caps already counted itself in;
    `deferred` says it waited (it is then no longer counted as waiting).
    """
    job_id = job.id if job is not None else uuid.uuid4().hex
    args = (wave, number, language, body)  # as sealed: what a scheduled copy carries
    number = open_text(settings.storage_secret_key, number)
    p = pseudonym_for(settings, number)
    tally = _Tally(redis, wave, kind, deferred)

    entry = redis.hget(keys.WAVES_OPEN, wave)
    if entry is None:
        tally.done(InviteCount.CANCELED)
        return "canceled: the wave is not open"
    if _opted_out(settings, redis, number, p):
        tally.done(InviteCount.OPTED_OUT)
        return "opted out"
    outreach = wave_outreach(settings, json.loads(entry))
    reminder = 0
    claim = keys.invite_claim(p, wave)
    if kind == SendKind.REMINDER:
        due = next_reminder(redis, p, wave, outreach, clock.today())
        if isinstance(due, ReminderSkip):
            tally.done(InviteCount.SKIPPED)
            return f"skipped: {due}"
        reminder, claim = due, keys.remind_claim(p, wave, due)
    # One text per person, wave and kind: a second upload, or a second run of this job after
    # it sent, finds the claim. A retry of this job holds it already; a run after this job's
    # worker died during Twilio's call finds it marked "sending" and does not send again.
    held = redis.get(claim)
    if held == f"{job_id}{SENDING}".encode():
        _record_sent(settings, redis, p, wave, kind, reminder, language, claim, sid=None)
        tally.done(InviteCount.INTERRUPTED)
        log.warning(
            "%s job %s (wave %s): interrupted during the send, not sent again", kind, job_id, wave
        )
        return "interrupted: not sent again"
    if held is not None and held != job_id.encode():
        tally.done(InviteCount.SKIPPED)
        return "skipped: already texted"

    # Windows and caps are about people and carriers: the development simulator (no Twilio
    # credentials) gets its texts at once, at any hour. WhatsApp always goes to Twilio.
    gated = settings.twilio_configured or kind == SendKind.WHATSAPP
    now = clock.now()
    today = pacing.day_of(now, settings)
    if gated:
        waiting = _wait(settings, redis, job, number, outreach, args, kind, booked, deferred, now)
        if waiting is not None:
            return waiting
    spent = (today, outreach) if gated else None  # given back if nobody is texted now
    if not redis.set(claim, job_id, nx=True, ex=CLAIM_PENDING_TTL_SECONDS):
        if redis.get(claim) != job_id.encode():
            with redis.pipeline() as pipe:
                if spent:
                    pacing.refund(redis, day=today, wave=wave, outreach=outreach, pipe=pipe)
                tally.done(InviteCount.SKIPPED, pipe=pipe)
                pipe.execute()
            return "skipped: already texted"

    calling = kind == SendKind.CALL
    send, rate, key = _channel(settings, redis, kind)
    try:
        SendRateLimiter(redis, rate, key=key).acquire()
    except SlotTimeout:
        if spent:
            pacing.refund(redis, day=today, wave=wave, outreach=outreach)
        return _temporary(tally, job, claim, "no send slot in time")
    now = clock.now()
    if gated and not in_window(settings, number, outreach, now):  # the window closed meanwhile
        redis.delete(claim)
        at = window_opens(settings, number, outreach, now)
        return defer(
            redis,
            job,
            at=at,
            args=args,
            kind=kind,
            booked=NOT_BOOKED,
            deferred=deferred,
            refund=spent,
        )
    with redis.pipeline() as pipe:
        pipe.set(claim, f"{job_id}{SENDING}", xx=True, keepttl=True)  # before Twilio's call
        if calling:  # the call's webhook reads the wave and language from it as it is answered
            pipe.set(
                keys.invited(p),
                json.dumps({"wave": wave, "lang": language}),
                ex=INVITED_TTL_SECONDS,
            )
        pipe.execute()
    sid, failure = call_twilio(lambda: send(number, body))
    if failure is not None:
        return _failed(settings, redis, job, tally, p, claim, failure)
    _record_sent(settings, redis, p, wave, kind, reminder, language, claim, sid=sid, tally=tally)
    return "sent"


def _record_sent(
    settings: Settings,
    redis: Redis,
    p: str,
    wave: str,
    kind: str,
    reminder: int,
    language: str,
    claim: str,
    *,
    sid: str | None,
    tally: _Tally | None = None,
) -> None:
    """Mark the person texted (the day, how many reminders) for later reminders and the
    conversation, map the message to its wave for status callbacks, and count it."""
    today = clock.today().isoformat()
    invite_claim = keys.invite_claim(p, wave)
    if kind == SendKind.REMINDER:
        previous = read_contact(redis.get(invite_claim)) or {"invited": today}
        contact = contact_marker(invited=previous["invited"], last=today, reminders=reminder)
    else:
        contact = contact_marker(invited=today, last=today, reminders=0)
    with redis.pipeline() as pipe:
        pipe.set(
            keys.invited(p), json.dumps({"wave": wave, "lang": language}), ex=INVITED_TTL_SECONDS
        )
        pipe.set(invite_claim, contact, ex=INVITED_TTL_SECONDS)  # this wave texted them
        if kind == SendKind.REMINDER:
            pipe.set(claim, "sent", ex=INVITED_TTL_SECONDS)
        if sid and kind != SendKind.CALL:  # a call's outcome comes to the voice status route
            digest = message_digest(settings.PSEUDONYM_KEY, sid)
            mapped = wave if kind == SendKind.INVITATION else f"{wave}#{kind}"
            pipe.set(keys.invite_message(digest), mapped, ex=MESSAGE_MAP_TTL_SECONDS)
        if tally is not None:
            tally.done(InviteCount.SENT, pipe=pipe)
        pipe.execute()


def _failed(settings, redis, job, tally, p, claim, failure) -> str | Retry:  # noqa: ANN001
    """Settle a send Twilio refused: opted out, a temporary error (retried), or failed."""
    job_id = job.id if job is not None else "-"
    code = failure.label
    if failure.code == UNSUBSCRIBED:
        with redis.pipeline() as pipe:
            pipe.multi()
            mark_opted_out(redis, get_queue(redis), p, pipeline=pipe)
            pipe.delete(claim)
            tally.done(InviteCount.OPTED_OUT, errors=(f"error:{code}",), pipe=pipe)
            pipe.execute()
        log.info(
            "%s job %s (wave %s): recipient opted out at Twilio", tally.kind, job_id, tally.wave
        )
        return "opted out"
    # 401: credentials being rotated or mistyped; retrying gives the operator time to fix
    # them instead of spending every number on errors.
    if failure.temporary(also=(401,)):
        return _temporary(tally, job, claim, str(failure))
    with redis.pipeline() as pipe:
        pipe.delete(claim)
        tally.done(InviteCount.FAILED, errors=(f"error:{code}",), pipe=pipe)
        pipe.execute()
    log.info("%s job %s (wave %s): refused, Twilio error %s", tally.kind, job_id, tally.wave, code)
    return f"failed: Twilio error {code}"


def _temporary(tally: _Tally, job, claim: str, what: str) -> str | Retry:  # noqa: ANN001
    """Retry later (a `Retry` handed back to RQ), or on the last attempt count the invitation
    as failed.

    Returned, not raised: RQ logs a job that raises with its arguments attached to the log
    record (`extra`), and this job's arguments hold the number, which a structured log
    handler would then write out.
    """
    redis, wave = tally.redis, tally.wave
    job_id = job.id if job is not None else "-"
    retry = retry_later(job, SEND_RETRY_INTERVALS)
    if retry is not None:
        redis.set(claim, job_id, xx=True, keepttl=True)  # not sending: the retry may send
        log.warning("%s job %s (wave %s): %s, will retry", tally.kind, job_id, wave, what)
        return retry
    with redis.pipeline() as pipe:
        pipe.delete(claim)
        tally.done(InviteCount.FAILED, errors=("error:temporary",), pipe=pipe)
        pipe.execute()
    log.warning("%s job %s (wave %s): %s, out of retries: failed", tally.kind, job_id, wave, what)
    return "failed: out of retries"
