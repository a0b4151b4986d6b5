"""Outbound texts: through Twilio's REST API when configured, else to the simulator.

Callers are jobs, never the webhook request. `TWILIO_API_BASE_URL` points the client at
another host (a local fake in tests and benchmarks, a staging proxy).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

from redis import Redis
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bot.infra import keys
from bot.infra.config import Settings
from bot.infra.exceptions import ConfigError
from bot.infra.privacy import pseudonym_for
from bot.infra.whatsapp_window import is_whatsapp, require_open

SIMULATOR_OUTBOX_LIMIT = 200


class RedirectingHttpClient(TwilioHttpClient):
    """Twilio's HTTP client, sending every request to another base URL."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        parts = urlsplit(base_url)
        self._scheme, self._netloc = parts.scheme, parts.netloc

    def request(self, method, url, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        """Rewrite the scheme and host of a Twilio API URL, keep its path."""
        parts = urlsplit(url)
        url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)


def twilio_client(settings: Settings) -> Client:
    """A Twilio REST client for these settings."""
    http_client = (
        RedirectingHttpClient(settings.TWILIO_API_BASE_URL)
        if settings.TWILIO_API_BASE_URL
        else None
    )
    return Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client)


def twilio_sender(settings: Settings, *, timeout: float | None = None):
    """A function that texts through Twilio (Messaging Service or from number, with a status
    callback) and returns the message SID; the client is built once, before any send."""
    client = twilio_client(settings)
    if timeout is not None:
        client.http_client.timeout = timeout
    messages = client.messages
    sender = (
        {"messaging_service_sid": settings.TWILIO_MESSAGING_SERVICE_SID}
        if settings.TWILIO_MESSAGING_SERVICE_SID
        else {"from_": settings.TWILIO_FROM_NUMBER}
    )
    callback = (
        settings.PUBLIC_BASE_URL.rstrip("/") + "/twilio/sms/status"
        if settings.PUBLIC_BASE_URL
        else None
    )

    def send(to: str, body: str) -> str:
        return messages.create(to=to, body=body, status_callback=callback, **sender).sid

    return send


def twilio_caller(settings: Settings, *, timeout: float | None = None):
    """A function that places an invitation call through Twilio from TWILIO_FROM_NUMBER, to
    the voice webhook, with answering-machine detection, and returns the CallSid."""
    client = twilio_client(settings)
    if timeout is not None:
        client.http_client.timeout = timeout
    calls = client.calls
    base = settings.PUBLIC_BASE_URL.rstrip("/")

    def call(to: str, body: str) -> str:  # noqa: ARG001 - a call says the questionnaire
        return calls.create(
            to=to,
            from_=settings.TWILIO_FROM_NUMBER,
            url=f"{base}/twilio/voice",
            method="POST",
            machine_detection="Enable",  # AnsweredBy: a machine gets nothing of the survey
            status_callback=f"{base}/twilio/voice/status",
        ).sid

    return call


def send_sms(settings: Settings, redis: Redis, to: str, body: str) -> str | None:
    """Send one text; returns Twilio's SID (None when it went to the simulator). Free-form
    text to a WhatsApp address outside its 24-hour window raises OutsideWhatsAppWindow."""
    if is_whatsapp(to):
        require_open(redis, pseudonym_for(settings, to))
    if settings.twilio_configured:
        return twilio_sender(settings)(to, body)
    if not settings.simulator_on:
        raise ConfigError("no Twilio credentials and the simulator is off: cannot send a text")
    key = keys.simulator_outbox(pseudonym_for(settings, to))
    with redis.pipeline() as pipe:
        pipe.rpush(key, json.dumps({"body": body}))
        pipe.ltrim(key, -SIMULATOR_OUTBOX_LIMIT, -1)
        pipe.expire(key, 24 * 3600)
        pipe.execute()
    return None
