"""The Flask app factory and the state every request shares."""

from __future__ import annotations

import io
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Request, current_app
from flask.sessions import SecureCookieSessionInterface
from redis import Redis
from rq import Queue
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.channels.sessions import Conversation
from bot.core.questionnaire import Questionnaire, load_questionnaire
from bot.infra.config import Settings, load_settings
from bot.outreach.waves import RegistryCache


@dataclass(frozen=True)
class AppState:
    """What every request shares: settings, the Redis client, the queue, the questionnaire."""

    settings: Settings
    redis: Redis
    queue: Queue
    questionnaire: Questionnaire
    registry: RegistryCache
    conversation: Conversation  # the same for every message: built once


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


def state() -> AppState:
    """The running app's shared state."""
    return current_app.extensions["surveybot"]


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the web app from the environment (and `.env`), with `overrides` on top."""
    settings = load_settings(overrides)
    settings.validate()
    instance = Path(settings.INSTANCE_PATH).resolve()
    # Named after the package: templates and static files live in bot/templates, bot/static.
    app = Flask("bot", instance_path=str(instance))
    app.request_class = SurveybotRequest
    app.session_interface = WebhookFreeSessions()
    app.config.update(
        SECRET_KEY=settings.SECRET_KEY or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        MAX_CONTENT_LENGTH=64 * 1024,  # a Twilio webhook is a few KB at most
    )
    logging.getLogger("surveybot").setLevel(settings.LOG_LEVEL)
    if settings.TRUST_PROXY:
        # Exactly one proxy in front: trust its X-Forwarded-* for the URL Twilio signed.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    redis = Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None
    if redis is None:
        from bot.infra.exceptions import ConfigError

        raise ConfigError("REDIS_URL is not set (use `surveybot dev` for an embedded Redis)")
    from bot.infra.queues import get_queue

    queue = get_queue(redis)
    questionnaire = load_questionnaire(settings.SURVEY_FILE or None)
    registry = RegistryCache()
    conversation = Conversation(
        redis=redis,
        queue=queue,
        questionnaire=questionnaire,
        wave=settings.DEFAULT_WAVE,
        session_ttl=settings.session_ttl_seconds,
        registry=registry,
    )
    app.extensions["surveybot"] = AppState(
        settings=settings,
        redis=redis,
        queue=queue,
        questionnaire=questionnaire,
        registry=registry,
        conversation=conversation,
    )

    from bot import cli, dashboard
    from bot.channels import simulator, sms, voice
    from bot.web import health, outages

    outages.init_app(app)
    app.register_blueprint(sms.bp)
    app.register_blueprint(voice.bp)
    app.register_blueprint(health.bp)
    dashboard.init_app(app)
    if settings.simulator_on:
        app.register_blueprint(simulator.bp)
    cli.init_app(app)
    return app
