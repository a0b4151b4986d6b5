"""Requests signed as Twilio signs them, sent through the app's own test client."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Flask, has_request_context
from twilio.request_validator import RequestValidator

from bot.channels.signatures import public_base

SIMULATED_ACCOUNT = "AC" + "0" * 32
SIMULATED_BOT_NUMBER = "+15005550006"  # Twilio's magic test number, never a real phone


def webhook_base(app: Flask) -> str:
    """The URL the bot's webhooks are signed for (as Twilio would reach them)."""
    settings = app.extensions["surveybot"].settings
    if has_request_context():
        return public_base(settings)
    return settings.PUBLIC_BASE_URL.rstrip("/") or "http://localhost"


def _local_target(app: Flask, url: str) -> tuple[str, str]:
    """(base_url, path and query) to reach the absolute `url` through the app's test client."""
    base = webhook_base(app)
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if base and url.startswith(base + "/"):
        # A PUBLIC_BASE_URL with a path (a proxy's prefix) is not part of the app's routes.
        return origin, url[len(base) :]
    return origin, parts.path + (f"?{parts.query}" if parts.query else "")


def signed_request(
    app: Flask, url: str, params: dict[str, str], *, method: str = "POST"
) -> tuple[int, bytes, str]:
    """Send `params` to the absolute `url` as Twilio does: signed against that exact URL (with
    its query string; a GET carries the params in the query), through the app's test client.
    Returns (HTTP status, body, mimetype)."""
    token = app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    method = method.upper()
    if method == "GET" and params:
        url += ("&" if urlsplit(url).query else "?") + urlencode(params)
    signature = RequestValidator(token).compute_signature(url, {} if method == "GET" else params)
    origin, target = _local_target(app, url)
    with app.test_client() as client:
        response = client.open(
            target,
            method=method,
            base_url=origin,
            data=None if method == "GET" else params,
            headers={"X-Twilio-Signature": signature},
        )
        try:
            return response.status_code, response.get_data(), response.mimetype
        finally:
            response.close()
