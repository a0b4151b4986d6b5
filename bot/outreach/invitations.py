"""Invitations: check an upload of opted-in members' numbers, queue one text per number, and
keep each wave's progress.

Privacy: a raw number lives in the organizer's upload while it is checked, then in one pending
send job (bot/outreach/sending.py) until that job has sent the text or failed for good; the job
leaves no trace of it (result_ttl=0, permanent failures handled inside the job). What remains
is keyed by pseudonym or by a keyed digest of the MessageSid: the "invited" marker the
conversation reads, the marker that this wave already invited this person, the map from a sent
message to its wave for status callbacks, and counters per wave. Check reasons, summaries and
log lines name line numbers and counts, never a number.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import phonenumbers
from redis import Redis
from rq import Queue, Retry

from bot.core.placeholders import SHIPPED_PLACEHOLDERS
from bot.core.questionnaire import Questionnaire, parse_questionnaire
from bot.core.smsencoding import SmsInfo, summary
from bot.core.smsencoding import describe as describe_sms
from bot.infra import keys
from bot.infra.config import Settings
from bot.infra.exceptions import SurveybotError
from bot.infra.queues import SEND_INVITATION_JOB
from bot.infra.sealing import seal_text
from bot.infra.stats import count
from bot.outreach.phone_numbers import (
    InvalidChannel,
    InvalidNumber,
    channel_column,
    decode_upload,
    delimiter_of,
    header_column,
    normalize_number,
    read_channel,
)
from bot.outreach.ratelimit import rate_of

INVITED_TTL_SECONDS = 30 * 24 * 3600  # a reply within a month still lands in the invited wave
MESSAGE_MAP_TTL_SECONDS = 4 * 24 * 3600  # Twilio's final status callback comes within hours
SEND_RETRY_INTERVALS = (30, 120, 600, 1800, 3600)  # temporary errors; then counted as failed
SEND_JOB_TIMEOUT_SECONDS = 300  # the wait for a send slot (<= 120 s) and Twilio's reply (<= 30 s)
# How long a send job (with all its retries) can hold its claim on a person before it sent: a
# job lost with its worker frees the person for a later upload after this.
CLAIM_PENDING_TTL_SECONDS = (
    sum(SEND_RETRY_INTERVALS) + (len(SEND_RETRY_INTERVALS) + 1) * SEND_JOB_TIMEOUT_SECONDS
)
# Only a job whose worker died mid-send reaches RQ's failed registry (every error is handled in
# the job); it holds the number, so it is gone a minute later.
SEND_JOB_FAILURE_TTL_SECONDS = 60
ENQUEUE_CHUNK = 500
MAX_INVALID_SHOWN = 20

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
UNSUBSCRIBED = 21610  # Twilio: the recipient texted STOP to our sender


class InvitationError(SurveybotError):
    """Invitations that cannot be queued (with the reason, for the organizer)."""


class InviteCount(StrEnum):
    """Fields of a wave's invitation progress hash."""

    QUEUED = "queued"  # send jobs queued
    SENT = "sent"  # accepted by Twilio (or the simulator)
    DELIVERED = "delivered"  # status callbacks
    UNDELIVERED = "undelivered"
    FAILED = "failed"  # refused for good by Twilio's API, or a "failed" status callback
    OPTED_OUT = "opted_out"  # opted out before the send, or Twilio error 21610
    SKIPPED = "skipped"  # this wave had already invited the number
    CANCELED = "canceled"  # the wave closed before the send
    PROCESSED = "processed"  # send jobs finished (any outcome): queued - processed = pending
    WAITING = "waiting"  # now waiting for the recipient's window or a day under the caps
    INTERRUPTED = "interrupted"  # a worker died during Twilio's call: not sent again


class SendKind(StrEnum):
    """What a send job texts: the invitation, or a reminder of it."""

    INVITATION = "invitation"
    REMINDER = "reminder"
    CALL = "call"  # an invitation by phone call: the bot calls and runs the phone survey
    WHATSAPP = "whatsapp"  # an invitation by WhatsApp: the language's approved template


def stat_field(kind: str, name: str) -> str:
    """A counter's field in the wave's invitation hash: reminders' are prefixed."""
    return name if kind == SendKind.INVITATION else f"{kind}:{name}"


# The invitation in each language; {org} is the questionnaire's resource, {keyword} the wave's
# first start keyword in that language. Like the questionnaire's own texts these await
# community review: native speakers must read the Spanish and Haitian Creole on a phone before
# a wave invites anyone. A questionnaire with a `messages.invitation` entry overrides them.
# Each is written in the GSM-7 alphabet (no accents outside it), so it costs 1-2 segments.
DEFAULT_INVITATIONS = {
    "en": (
        "{org} asks how safe our community feels. Reply {keyword} to answer a few short "
        "questions (anonymous). Reply STOP to opt out."
    ),
    "es": (
        "{org} pregunta qué tan segura se siente nuestra comunidad. Responda {keyword} para "
        "contestar unas preguntas breves, sin dar su nombre. Responda PARAR para no recibir "
        "mensajes."
    ),
    "ht": (
        "{org} ap mande kijan kominote nou an santi l an sekirite. Reponn {keyword} pou w "
        "reponn kèk kesyon kout, san w pa bay non w. Reponn KANPE pou w pa resevwa mesaj ankò."
    ),
}


# ------------------------------------------------------------------------------ the upload


@dataclass(frozen=True)
class InvitationCheck:
    """What an upload would send: E.164 numbers, and what was left out and why."""

    valid: list[str]  # E.164, deduplicated, in upload order (opt-outs are skipped at sending)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    duplicates: int = 0
    total_rows: int = 0  # data rows (no header, no blank lines)
    # Each valid number's channel from the upload's `channel` column (sms, whatsapp, call;
    # "": the upload's choice), in the order of `valid` (bot/outreach/upload.py).
    channels: list[str] = field(default_factory=list)


def parse_invitation_csv(data: bytes, *, default_region: str) -> InvitationCheck:
    """Check an upload of numbers (CSV, with or without a header row) before anything is sent.

    The phone column is the one headed phone, number, telefono (or a similar name in English,
    Spanish or Haitian Creole), else the first. Numbers without a country code are read in
    `default_region`. Invalid rows are reported by line number and duplicates dropped. An
    optional column headed channel (canal, kanal) says how to invite that row: sms, whatsapp
    or call (bot/outreach/upload.py); a row without one gets the upload's choice.

    Numbers that opted out stay in: the check says nothing about them, not even how many, since
    an upload of one number (or two uploads that differ by one) would tell an organizer whether
    that person texted STOP. The send job skips them (bot/outreach/sending.py).
    """
    region = default_region.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvitationError(f"{default_region!r} is not a known region code (e.g. US, HT, MX)")
    text = decode_upload(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(text))
    column: int | None = None
    channel_col: int | None = None
    channels: list[str] = []
    first = True
    valid: list[str] = []
    seen: set[str] = set()
    invalid: list[tuple[int, str]] = []
    duplicates = total = 0
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if first:
            first = False
            column = header_column(row)
            if column is not None:
                channel_col = channel_column(row)
                continue
            column = 0
        total += 1
        cell = row[column] if column < len(row) else ""
        try:
            number = normalize_number(cell, region)
        except InvalidNumber as exc:
            invalid.append((line, str(exc)))
            continue
        channel = ""
        if channel_col is not None:
            try:
                channel = read_channel(row[channel_col] if channel_col < len(row) else "")
            except InvalidChannel as exc:
                invalid.append((line, str(exc)))
                continue
        if number in seen:
            duplicates += 1
            continue
        seen.add(number)
        valid.append(number)
        channels.append(channel)
    return InvitationCheck(valid, invalid, duplicates, total, channels)


def describe_check(check: InvitationCheck, *, max_invalid: int = MAX_INVALID_SHOWN) -> list[str]:
    """The check as lines for an organizer: counts, and invalid rows by line number."""
    lines = [
        f"{check.total_rows} rows: {len(check.valid)} to invite, {len(check.invalid)} invalid, "
        f"{check.duplicates} duplicates dropped; numbers that opted out (STOP) are skipped when "
        "the texts go out, without saying which or how many"
    ]
    for line, reason in check.invalid[:max_invalid]:
        lines.append(f"  line {line}: {reason}")
    if len(check.invalid) > max_invalid:
        lines.append(f"  ... and {len(check.invalid) - max_invalid} more invalid rows")
    return lines


# -------------------------------------------------------------------------------- the text


def invitation_text(
    q: Questionnaire, language: str, *, keywords: dict[str, list[str]] | None = None
) -> str:
    """The invitation in `language`: the questionnaire's own, else the built-in default."""
    if language not in q.languages:
        raise InvitationError(
            f"the questionnaire has no {language!r} text (it has {', '.join(q.languages)})"
        )
    own = q.messages.get("invitation", {})
    if language in own:
        return q.message("invitation", language)
    if language not in DEFAULT_INVITATIONS:
        raise InvitationError(f"no invitation text in {language!r}: add messages.invitation")
    keyword = start_keyword(q, language, keywords)
    # A file without an `org` resource still gets a sender's name; bot.core.placeholders reports
    # it as a placeholder, so production never opens a wave that would send this.
    resources = {"org": SHIPPED_PLACEHOLDERS["org"], **q.resources}
    text = DEFAULT_INVITATIONS[language].format(keyword=keyword, **resources)
    return text[:1].upper() + text[1:]


def start_keyword(q: Questionnaire, language: str, keywords: dict[str, list[str]] | None) -> str:
    """The word an invitation in `language` asks people to reply: the wave's first start
    keyword in it (else the questionnaire's), upper case."""
    words = (keywords or {}).get(language) or q.start_keywords.get(language) or ()
    if not words:
        raise InvitationError(f"the wave has no start keyword in {language!r}")
    return words[0].upper()


@dataclass(frozen=True)
class InvitationPreview:
    """The exact invitation one language's invitees will receive, and what it costs."""

    language: str
    text: str
    sms: SmsInfo

    @property
    def cost(self) -> str:
        """Its encoding and segments, as `surveybot survey check` words them."""
        return summary(self.sms)


def preview_invitations(
    q: Questionnaire, languages: Iterable[str], *, keywords: dict[str, list[str]] | None
) -> list[InvitationPreview]:
    """What each language will receive, built by `invitation_text` as the send jobs' text is.

    Pass the wave's frozen questionnaire (`bot.outreach.waves.wave_questionnaire`) and its start
    keywords: that is what the registry of open waves holds for `wave_invitation`.
    """
    previews = []
    for language in dict.fromkeys(languages):
        text = invitation_text(q, language, keywords=keywords)
        previews.append(InvitationPreview(language, text, describe_sms(text)))
    return previews


def _open_entry(redis: Redis, wave: str) -> dict:
    raw = redis.hget(keys.WAVES_OPEN, wave)
    if raw is None:
        raise InvitationError(f"wave {wave!r} is not open: only an open wave can invite")
    return json.loads(raw)


def wave_invitation(redis: Redis, wave: str, language: str) -> str:
    """The invitation text of an open wave (from the registry of open waves)."""
    entry = _open_entry(redis, wave)
    q = parse_questionnaire(entry["questionnaire"])
    return invitation_text(q, language, keywords=entry.get("keywords"))


def wave_keyword(redis: Redis, wave: str, language: str) -> str:
    """The start keyword an open wave's invitation in `language` asks people to reply."""
    entry = _open_entry(redis, wave)
    q = parse_questionnaire(entry["questionnaire"])
    if language not in q.languages:
        raise InvitationError(f"the questionnaire has no {language!r} text")
    return start_keyword(q, language, entry.get("keywords"))


# ------------------------------------------------------------------------------ queue, count


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def invitation_plan(
    settings: Settings, redis: Redis, *, wave: str, language: str, call: bool
) -> tuple[SendKind, str]:
    """What a text (or a call) invitation's send jobs carry, once this installation is known
    to be able to send it (else InvitationError, before anything is queued)."""
    body = wave_invitation(redis, wave, language)
    if call:
        if not (settings.twilio_configured and settings.TWILIO_FROM_NUMBER):
            raise InvitationError(
                "invitation calls need Twilio and TWILIO_FROM_NUMBER to call from"
            )
        if settings.CALL_RATE_PER_SECOND <= 0:
            raise InvitationError("CALL_RATE_PER_SECOND must be positive to place calls")
    return (SendKind.CALL if call else SendKind.INVITATION), body


def queue_invitations(
    settings: Settings,
    redis: Redis,
    queue: Queue,
    *,
    wave: str,
    numbers: list[str],
    language: str,
    call: bool = False,
) -> int:
    """Queue one send job per E.164 number (checked by `parse_invitation_csv`); returns how
    many. Workers send them no faster than SEND_RATE_PER_SECOND altogether (calls: with
    `call`, no faster than CALL_RATE_PER_SECOND)."""
    kind, body = invitation_plan(settings, redis, wave=wave, language=language, call=call)
    return enqueue_sends(
        settings,
        redis,
        queue,
        wave=wave,
        numbers=numbers,
        language=language,
        body=body,
        kind=kind,
    )


def send_job_options(wave: str, kind: str) -> dict:
    """RQ options of every send job (deferred ones too)."""
    return {
        "timeout": SEND_JOB_TIMEOUT_SECONDS,
        "result_ttl": 0,  # the job (and the number in it) goes once it is done
        "failure_ttl": SEND_JOB_FAILURE_TTL_SECONDS,
        "description": f"{kind} (wave {wave})",  # RQ logs this: never the args
        "retry": Retry(max=len(SEND_RETRY_INTERVALS), interval=list(SEND_RETRY_INTERVALS)),
    }


def enqueue_sends(
    settings: Settings,
    redis: Redis,
    queue: Queue,
    *,
    wave: str,
    numbers: list[str],
    language: str,
    body: str,
    kind: str = SendKind.INVITATION,
) -> int:
    """One send job per checked E.164 number, each carrying it sealed; returns how many."""
    rate, setting, _ = rate_of(settings, kind)
    if rate <= 0:
        raise InvitationError(f"{setting} must be positive to send these")
    for i, number in enumerate(numbers, start=1):
        if not E164.fullmatch(number):
            raise InvitationError(f"item {i} is not an E.164 number: check the upload first")
    stats = keys.invite_stats(wave)
    public_key = settings.storage_public_key  # the numbers travel sealed: only workers open them
    extra = {} if kind == SendKind.INVITATION else {"kind": str(kind)}
    for chunk in _chunks(numbers, ENQUEUE_CHUNK):
        jobs = [
            Queue.prepare_data(
                SEND_INVITATION_JOB,
                args=(wave, seal_text(public_key, number), language, body),
                kwargs=extra,
                **send_job_options(wave, kind),
            )
            for number in chunk
        ]
        with redis.pipeline() as pipe:
            queue.enqueue_many(jobs, pipeline=pipe)
            count(pipe, stats, stat_field(kind, InviteCount.QUEUED), amount=len(chunk))
            pipe.execute()
    return len(numbers)
