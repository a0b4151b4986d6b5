"""Test helpers: sign and post webhooks exactly as Twilio does, run queued jobs."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from bot.channels.simulator import twilio_params
from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.queues import STORE_RESPONSE_JOB, get_queue
from bot.infra.sealing import conversation_cipher
from bot.outreach.waves import create_wave, open_wave
from bot.records import batches, inbox
from bot.records.sessions import ENCRYPTED
from workers import context
from workers.worker import ProjectSimpleWorker as SimpleWorker


def sign(app: Flask, path: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature for a POST of `params` to `path` under PUBLIC_BASE_URL."""
    settings = app.extensions["surveybot"].settings
    url = settings.PUBLIC_BASE_URL.rstrip("/") + path
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)


def replies_of(response) -> list[str]:  # noqa: ANN001
    """Message bodies of a TwiML response."""
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    return [(m.text or "") for m in ET.fromstring(response.data).iter("Message")]


def sms(
    client: FlaskClient,
    from_: str,
    body: str,
    *,
    sid: str | None = None,
    media: bool = False,
    signature: str | None = None,
):
    """POST one inbound SMS to /twilio/sms, signed as Twilio signs it; returns the response."""
    params = twilio_params(from_, body, media=media)
    if sid:
        params.update(MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    sig = sign(client.application, "/twilio/sms", params) if signature is None else signature
    return client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": sig})


# What a WhatsApp profile's name looks like: identifying, and never to be found at rest.
PROFILE_NAME = "Wilnise Dorcéus-Théodore"
WHATSAPP_BOT = "whatsapp:+15005550006"
MEDIA_TYPES = {"audio": "audio/ogg", "image": "image/jpeg", "sticker": "image/webp"}


def whatsapp_params(
    from_: str,
    body: str,
    *,
    sid: str | None = None,
    media: str | None = None,
    button: tuple[str, str] | None = None,
    profile_name: str = PROFILE_NAME,
    **extra: str,
) -> dict[str, str]:
    """The form Twilio posts for one inbound WhatsApp message from the phone number `from_`
    (or a WhatsApp user id): `media` is a MessageType (audio, image, sticker) with its file;
    `button` a tapped quick reply's (payload, text), which Twilio also sends as Body."""
    digits = "".join(c for c in from_ if c.isdigit())
    sid = sid or ("MM" if media else "SM") + uuid.uuid4().hex
    params = {
        "SmsMessageSid": sid,
        "NumMedia": "1" if media else "0",
        "ProfileName": profile_name,
        "MessageType": media or ("button" if button else "text"),
        "SmsSid": sid,
        "WaId": digits if from_.startswith("+") else from_,
        "SmsStatus": "received",
        "Body": button[1] if button else body,
        "To": WHATSAPP_BOT,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "whatsapp:" + from_,
        "ApiVersion": "2010-04-01",
    }
    if media:
        params["MediaContentType0"] = MEDIA_TYPES[media]
        params["MediaUrl0"] = (
            f"https://api.twilio.com/2010-04-01/Accounts/{params['AccountSid']}/Messages/{sid}"
            f"/Media/ME{uuid.uuid4().hex}"
        )
    if button:
        params.update(
            ButtonPayload=button[0],
            ButtonText=button[1],
            OriginalRepliedMessageSender=WHATSAPP_BOT,
            OriginalRepliedMessageSid="SM" + uuid.uuid4().hex,
        )
    return {**params, **extra}


def whatsapp(client: FlaskClient, from_: str, body: str, **kwargs):  # noqa: ANN003
    """POST one inbound WhatsApp message to /twilio/sms (Twilio posts WhatsApp to the
    messaging webhook), signed as Twilio signs it; returns the response."""
    params = whatsapp_params(from_, body, **kwargs)
    sig = sign(client.application, "/twilio/sms", params)
    return client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": sig})


def wa_text(client: FlaskClient, from_: str, body: str, **kwargs) -> list[str]:  # noqa: ANN003
    """Send one WhatsApp message and return the bot's replies."""
    return replies_of(whatsapp(client, from_, body, **kwargs))


def text(client: FlaskClient, from_: str, body: str, **kwargs) -> list[str]:  # noqa: ANN003
    """Send one SMS and return the bot's replies."""
    return replies_of(sms(client, from_, body, **kwargs))


def store_inbox(redis, settings) -> None:  # noqa: ANN001
    """Close a storage batch now with whatever the storage inbox holds, as cron would once one
    is due (completed responses and live counters reach the database and the counters)."""
    if inbox.size(redis):
        result = batches.store_batch(settings, redis, force=True)
        assert result.status == "stored", result


def inbox_records(redis, settings, kind: str | None = None) -> list[dict]:  # noqa: ANN001
    """The records waiting in the storage inbox, opened (of one kind if given)."""
    members = redis.smembers(keys.STORAGE_INBOX)
    opened = [inbox.open_record(settings.storage_secret_key, m) for m in members]
    return [r for r in opened if kind is None or r["kind"] == kind]


def enqueue_legacy_store(queue, payload: dict):  # noqa: ANN001, ANN201
    """A storage job as releases before the storage inbox queued one per completed response."""
    return queue.enqueue_call(
        STORE_RESPONSE_JOB, args=(payload,), result_ttl=0, description="store a completed response"
    )


def run_queued(redis, settings, *, scheduled: bool = True, rounds: int = 20) -> None:  # noqa: ANN001
    """Store the storage inbox as a batch, then run every queued job in this process until the
    queue is empty; with `scheduled`, jobs scheduled for later (retries, delayed deletions,
    debounced refreshes) run now too, as time passing would. Fails if jobs keep rescheduling
    themselves for `rounds` rounds."""
    context.configure(settings)
    queue = get_queue(redis)
    for _ in range(rounds):
        store_inbox(redis, settings)
        SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)
        registry = ScheduledJobRegistry(queue=queue)
        due = registry.get_job_ids() if scheduled else []
        if not due:
            return
        for job_id in due:
            job = queue.fetch_job(job_id)
            registry.remove(job_id)
            if job is not None:
                queue.enqueue_job(job)
    pytest.fail("jobs kept rescheduling themselves")


def opened_value(settings, number: str, raw: bytes | None):  # noqa: ANN001, ANN201
    """A conversation value (session, cached replies) as the bot reads it: decrypted with the
    key of the respondent's number (bot/infra/sealing.py). None when absent."""
    if raw is None:
        return None
    assert raw.startswith(ENCRYPTED), "conversation values are kept encrypted"
    cipher = conversation_cipher(settings.PSEUDONYM_KEY, number)
    return json.loads(cipher.decrypt(raw[len(ENCRYPTED) :]))


def run_jobs(app: Flask, *, scheduled: bool = True) -> None:
    """Run the app's queued (and, with `scheduled`, later) jobs until none is left."""
    app_state = app.extensions["surveybot"]
    run_queued(app_state.redis, app_state.settings, scheduled=scheduled)


def no_jobs_left(redis) -> None:  # noqa: ANN001
    """Nothing queued, scheduled or failed, and no finished job kept its data."""
    queue = get_queue(redis)
    assert queue.count == 0
    assert FailedJobRegistry(queue=queue).count == 0
    assert ScheduledJobRegistry(queue=queue).count == 0
    left = [k for k in redis.keys("rq:job:*") + redis.keys("rq:results:*")]
    assert not left, f"a finished job kept its data: {left}"


def sms_status(client: FlaskClient, sid: str, status: str, *, to: str, code: str = ""):
    """POST a signed message status callback, as Twilio sends it; asserts it was taken."""
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": to,
        "From": "+15005550006",
        "AccountSid": "AC" + "1" * 32,
        "ApiVersion": "2010-04-01",
    }
    if code:
        params["ErrorCode"] = code
    signature = sign(client.application, "/twilio/sms/status", params)
    response = client.post(
        "/twilio/sms/status", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 204


def new_sid() -> str:
    """A fresh MessageSid."""
    return "SM" + uuid.uuid4().hex


def open_test_wave(db: str, redis, name: str = "summer-2026") -> str:  # noqa: ANN001
    """Create and open a wave as an organizer would (placeholders allowed, as outside
    production); returns its name."""
    with Session(get_engine(db)) as session:
        create_wave(session, name=name, title="Summer 2026")
        open_wave(session, redis, name, allow_placeholders=True)
    return name
