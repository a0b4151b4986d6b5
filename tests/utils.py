"""Test helpers: sign and post webhooks exactly as Twilio does, run queued jobs."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from twilio.request_validator import RequestValidator

from bot.simulator import twilio_params
from workers import context
from workers.queues import get_queue


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


def text(client: FlaskClient, from_: str, body: str, **kwargs) -> list[str]:  # noqa: ANN003
    """Send one SMS and return the bot's replies."""
    return replies_of(sms(client, from_, body, **kwargs))


def run_jobs(app: Flask, *, scheduled: bool = True) -> None:
    """Run every queued job in this process until the queue is empty; with `scheduled`, jobs
    scheduled for later (debounced aggregate refreshes) run now too, as time passing would."""
    app_state = app.extensions["surveybot"]
    context.configure(app_state.settings)
    queue = get_queue(app_state.redis)
    for _ in range(10):
        worker = SimpleWorker([queue], connection=app_state.redis)
        worker.work(burst=True, with_scheduler=False)
        registry = ScheduledJobRegistry(queue=queue)
        due = registry.get_job_ids() if scheduled else []
        if not due:
            return
        for job_id in due:
            job = queue.fetch_job(job_id)
            registry.remove(job_id)
            if job is not None:
                queue.enqueue_job(job)


def new_sid() -> str:
    """A fresh MessageSid."""
    return "SM" + uuid.uuid4().hex
