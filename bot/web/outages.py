"""Redis or the database unreachable, or Redis full: a 503 with one clear line, never a 500.

Only errors that mean "the service is not answering" are caught here (a refused or timed-out
connection, Redis still loading its data, the database refusing connections, Redis refusing
writes because its memory is full under `noeviction`); any other error is a bug and keeps
Flask's 500 with its traceback (its text scrubbed of key names, bot/infra/redaction.py).
Twilio's webhooks get a plain 503, no HTML; the dashboard renders its own page
(`bot.dashboard`); everything else gets JSON. A 503 tells Twilio the text was not taken: with
the webhook URL's connection overrides (README) Twilio delivers it again, and a transition is
all or nothing and deduplicated by its MessageSid, so the retry is applied exactly once.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from flask import Flask, Response, jsonify, request
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError

from bot.infra.redaction import scrub

log = logging.getLogger("surveybot.outages")

# BusyLoadingError (Redis reading its AOF after a restart) is a ConnectionError too.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
# A full Redis under `noeviction` refuses writes (OOM); the whole transition is discarded.
REDIS_FULL = (OutOfMemoryError,)
DATABASE_DOWN = (OperationalError,)
OUTAGES = REDIS_DOWN + REDIS_FULL + DATABASE_DOWN
RETRY_AFTER_SECONDS = 30
MAX_REASON_CHARS = 200


class Service(StrEnum):
    """What is down."""

    REDIS = "redis"
    REDIS_FULL = "redis-memory"
    DATABASE = "database"


# How the log line says it: "redis unreachable (...)", "redis-memory full (...)".
STATES = {Service.REDIS: "unreachable", Service.REDIS_FULL: "full", Service.DATABASE: "unreachable"}


MESSAGES = {
    Service.REDIS: (
        "The bot's Redis is unreachable: sign-in and the dashboard wait for it; texts are not "
        "being answered either. Check the Redis service / REDIS_URL."
    ),
    Service.REDIS_FULL: (
        "The bot's Redis is out of memory and refuses writes: texts are not being answered "
        "(Twilio retries them). Free memory or raise Redis's maxmemory; never switch it to an "
        "eviction policy (README, Production)."
    ),
    Service.DATABASE: (
        "The bot's database is unreachable: the dashboard waits for it. Texts are still "
        "answered, and finished surveys wait in the queue until it is back. Check the database "
        "service / DATABASE_URL."
    ),
}


def service_of(exc: BaseException) -> Service:
    """Which service an outage error is about."""
    if isinstance(exc, REDIS_FULL):
        return Service.REDIS_FULL
    return Service.REDIS if isinstance(exc, REDIS_DOWN) else Service.DATABASE


def log_outage(exc: BaseException) -> Service:
    """One line for the operator: what is down, why, and where it was noticed; no traceback
    and no request data (a form can hold a phone number, a query string a name), no Redis key
    (redis-py's text of a failed pipeline names the command and its keys)."""
    service = service_of(exc)
    # The driver's own words (e.g. "connection refused"), not SQLAlchemy's text, which
    # appends the SQL statement.
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason_line = scrub(reason[0] if reason else type(exc).__name__)[:MAX_REASON_CHARS]
    log.error(
        "%s %s (%s: %s) during %s %s",
        service.value,
        STATES[service],
        type(exc).__name__,
        reason_line,
        request.method,
        request.url_rule.rule if request.url_rule else "?",
    )
    return service


def _outage(exc: Exception) -> tuple[Response | str, int, dict[str, str]]:
    service = log_outage(exc)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path.startswith("/twilio/"):
        # A 5xx tells Twilio the text or call step was not handled; it gets no HTML page.
        return (
            f"unavailable: {service.value} {STATES[service]}\n",
            503,
            {
                **headers,
                "Content-Type": "text/plain; charset=utf-8",
            },
        )
    return jsonify(error=MESSAGES[service], unreachable=service.value), 503, headers


def init_app(app: Flask) -> None:
    """Answer every request that finds Redis or the database down with a 503."""
    for error in OUTAGES:
        app.register_error_handler(error, _outage)
