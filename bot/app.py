"""The Flask app factory: the blueprints of every surface on one shared state.

It sits above every package (bot/web's shared state, the channels, the dashboard, the CLI):
nothing imports it but `bot.create_app`.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from redis import Redis
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.core.questionnaire import load_questionnaire
from bot.infra.config import load_settings
from bot.outreach.waves import RegistryCache
from bot.records.sessions import Conversation
from bot.web.requests import SurveybotRequest, WebhookFreeSessions
from bot.web.state import AppState


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
        # TRUST_PROXY proxies in front, each appending to X-Forwarded-For: the client's address
        # is the one the outermost of them saw (whatever the client wrote before it is
        # ignored), and the scheme is theirs. Never the host, port or prefix: signatures and
        # callback URLs come from PUBLIC_BASE_URL alone (bot/channels/signatures.py).
        hops = settings.TRUST_PROXY
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0)

    redis = Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None
    if redis is None:
        from bot.infra.exceptions import ConfigError

        raise ConfigError("REDIS_URL is not set (use `surveybot dev` for an embedded Redis)")
    from bot.infra.memory_policy import check_memory_policy
    from bot.infra.redaction import install_log_scrubber

    install_log_scrubber()  # before anything can log a Redis error with a key name in it
    check_memory_policy(redis, production=settings.is_production, process="web")
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
        storage_public_key=settings.storage_public_key,
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
