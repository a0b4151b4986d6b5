"""Redis or the database unreachable: a 503 with one clear line, never a bare 500.

Only errors that mean "the service is not answering" are caught here (a refused or timed-out
connection, Redis still loading its data, the database refusing connections); any other error
is a bug and keeps Flask's 500 with its traceback. Twilio's webhooks get a plain 503, no HTML;
the dashboard renders its own page (`bot.dashboard`); everything else gets JSON.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from flask import Flask, Response, jsonify, request
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError

log = logging.getLogger("surveybot.outages")

# BusyLoadingError (Redis reading its AOF after a restart) is a ConnectionError too.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
DATABASE_DOWN = (OperationalError,)
OUTAGES = REDIS_DOWN + DATABASE_DOWN
RETRY_AFTER_SECONDS = 30
MAX_REASON_CHARS = 200


class Service(StrEnum):
    """What is down."""

    REDIS = "redis"
    DATABASE = "database"


MESSAGES = {
    Service.REDIS: (
        "The bot's Redis is unreachable: sign-in and the dashboard wait for it; texts are not "
        "being answered either. Check the Redis service / REDIS_URL."
    ),
    Service.DATABASE: (
        "The bot's database is unreachable: the dashboard waits for it. Texts are still "
        "answered, and finished surveys wait in the queue until it is back. Check the database "
        "service / DATABASE_URL."
    ),
}


def service_of(exc: BaseException) -> Service:
    """Which service an outage error is about."""
    return Service.REDIS if isinstance(exc, REDIS_DOWN) else Service.DATABASE


def log_outage(exc: BaseException) -> Service:
    """One line for the operator: what is down, why, and where it was noticed; no traceback
    and no request data (a form can hold a phone number, a query string a name)."""
    service = service_of(exc)
    # The driver's own words (e.g. "connection refused"), not SQLAlchemy's text, which
    # appends the SQL statement.
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason_line = (reason[0] if reason else type(exc).__name__)[:MAX_REASON_CHARS]
    log.error(
        "%s unreachable (%s: %s) during %s %s",
        service.value,
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
            "unavailable: " + service.value + " unreachable\n",
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
