"""How the app reads requests: uploads kept in memory, no cookie session for Twilio."""

from __future__ import annotations

import io

from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface


class SurveybotRequest(Request):
    """Uploaded files stay in memory (bounded by the request's size limit): an invitation CSV
    holds phone numbers, and Werkzeug's default writes uploads over 500 KB to a temporary file
    on disk, where a deleted file's blocks can outlive it."""

    def _get_file_stream(self, *args, **kwargs):  # noqa: ANN002, ANN003 - Werkzeug's hook
        return io.BytesIO()


class WebhookFreeSessions(SecureCookieSessionInterface):
    """No cookie session for Twilio's webhooks: Twilio keeps no cookies, and opening one costs
    every text and every step of a call a serializer (bench/webhook.py)."""

    def open_session(self, app: Flask, request: Request):  # noqa: ANN201 - Flask's hook
        if request.path.startswith("/twilio/"):
            return self.null_session_class()
        return super().open_session(app, request)
