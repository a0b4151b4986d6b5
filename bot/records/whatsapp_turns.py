"""A WhatsApp reply that ends with quick-reply buttons, sent by a job through Twilio's REST API.

TwiML can only send text, and a quick-reply content goes out by `messages.create(ContentSid=...)`
(a REST call, which the request path never makes). So when a reply's last message asks a
question that has a content (bot/records/quick_replies.py), the webhook answers Twilio with an
empty TwiML and queues one job with the whole turn: its texts, then the content. Sending the
whole turn from one job, in order, keeps the question after the texts that lead to it (TwiML
messages and a job's message race otherwise).

The web side (`hand_over`) touches Redis only: a marker (keyed digest of the message, with the
dedup TTL) so a retried webhook queues nothing more, and the job, whose one argument is sealed
to the storage key pair (the number and the texts never in clear in RQ's records).

The job's side (`send_turn`): only inside the person's 24-hour window (`require_open`); each
message through Twilio with a status callback, counted as sent in a progress key so a retry
sends none twice; Twilio's temporary errors are retried with backoff (a `Retry` returned, never
raised: RQ would log the sealed argument); if the content itself is refused for good (deleted at
Twilio, say), the question goes as numbered text instead. Only counts leave the job.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from redis import Redis
from rq import Queue, Retry
from rq.job import Job

from bot.infra import clock, defaults, keys
from bot.infra.config import Settings
from bot.infra.outbound import twilio_client
from bot.infra.privacy import pseudonym_for
from bot.infra.queues import enqueue_whatsapp_turn
from bot.infra.sealing import open_text, seal_text
from bot.infra.stats import count
from bot.infra.twilio_rest import TwilioFailure, call_twilio, retry_later
from bot.infra.whatsapp_window import OUTSIDE_WINDOW_ERROR, close, is_open

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Turn:
    """What one job sends: `texts` in order, then the content; `texts[-1]` is the question as
    numbered text, sent instead of the content if Twilio refuses the content."""

    to: str  # the person's WhatsApp address
    sender: str  # our WhatsApp address they wrote to (used without a Messaging Service)
    texts: tuple[str, ...]
    content_sid: str

    def sealed(self, public_key: str) -> str:
        plain = json.dumps([self.to, self.sender, list(self.texts), self.content_sid])
        return seal_text(public_key, plain)

    @classmethod
    def opened(cls, secret_key: str, sealed: str) -> Turn:
        to, sender, texts, sid = json.loads(open_text(secret_key, sealed))
        return cls(to, sender, tuple(texts), sid)


def hand_over(
    settings: Settings,
    redis: Redis,
    queue: Queue,
    *,
    pseudonym: str,
    message_digest: str,
    turn: Turn,
) -> bool:
    """Queue the job that sends this turn, once per inbound message; True if queued now."""
    marker = keys.whatsapp_turn_sent(pseudonym, message_digest)
    if not redis.set(marker, "1", nx=True, ex=defaults.MESSAGE_DEDUP_TTL_SECONDS):
        return False  # a retried webhook: the first one's job sends (or sent) the turn
    enqueue_whatsapp_turn(queue, turn.sealed(settings.storage_public_key))
    _count(redis, "queued")
    return True


def _count(redis: Redis, *outcomes: str) -> None:
    pipe = redis.pipeline(transaction=False)
    count(pipe, keys.whatsapp_turn_stats(clock.today().isoformat()), *outcomes)
    pipe.execute()


def _sender(settings: Settings, turn: Turn) -> dict[str, str]:
    if settings.TWILIO_MESSAGING_SERVICE_SID:
        return {"messaging_service_sid": settings.TWILIO_MESSAGING_SERVICE_SID}
    return {"from_": turn.sender}


def send_turn(settings: Settings, redis: Redis, job: Job | None, sealed: str) -> str | Retry:
    """Send one sealed turn (see the module's docstring); returns the outcome, never the number
    or the texts, or a `Retry` for RQ."""
    turn = Turn.opened(settings.storage_secret_key, sealed)
    progress = keys.whatsapp_turn_progress(job.id if job else "")
    if not is_open(redis, pseudonym_for(settings, turn.to)):
        _count(redis, "outside_window")
        redis.delete(progress)
        return "outside the 24-hour window: not sent"
    messages = twilio_client(settings).messages
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    common = {"to": turn.to, **_sender(settings, turn)}
    if base:
        common["status_callback"] = f"{base}/twilio/sms/status"
    sent = int(redis.get(progress) or 0)
    parts = [{"body": text} for text in turn.texts[:-1]] + [{"content_sid": turn.content_sid}]
    while sent < len(parts):
        _, failure = call_twilio(lambda p=parts[sent]: messages.create(**p, **common))
        if failure is not None and "content_sid" in parts[sent] and _refused(failure):
            # The content is gone or refused for good: the question goes as numbered text.
            _count(redis, f"content_refused:{failure.label}")
            _, failure = call_twilio(lambda t=turn.texts[-1]: messages.create(body=t, **common))
        if failure is None:
            sent += 1
            continue
        if failure.code is not None and str(failure.code) == OUTSIDE_WINDOW_ERROR:
            close(redis, pseudonym_for(settings, turn.to))  # Twilio knows better than our key
            _count(redis, "outside_window")
            redis.delete(progress)
            return "outside the 24-hour window (Twilio error 63016): stopped"
        retry = retry_later(job, defaults.WHATSAPP_TURN_RETRY_INTERVALS)
        if failure.temporary() and retry is not None:
            redis.set(progress, sent, ex=defaults.WHATSAPP_TURN_FAILURE_TTL_SECONDS)
            _count(redis, "retried")
            log.info("a WhatsApp turn was not sent (%s): retried later", failure)
            return retry
        _count(redis, f"failed:{failure.label}")
        log.warning("a WhatsApp turn was not sent (%s): given up", failure)
        redis.delete(progress)
        return f"failed: {failure}"
    redis.delete(progress)
    _count(redis, "sent")
    return "sent"


def _refused(failure: TwilioFailure) -> bool:
    """A content Twilio will not send, whatever we try (not the window: that stops all)."""
    return not failure.temporary() and str(failure.code) != OUTSIDE_WINDOW_ERROR
