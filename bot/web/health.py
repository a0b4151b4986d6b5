"""GET /healthz: is Redis reachable (required), is the database reachable (storage may lag)."""

from __future__ import annotations

from enum import StrEnum

from flask import Blueprint, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.infra.db import get_engine
from bot.web.state import state

bp = Blueprint("health", __name__)


class HealthStatus(StrEnum):
    """The `status` of /healthz (README, section Production)."""

    OK = "ok"
    DEGRADED = "degraded"  # the database is down: texts are still answered, storage waits
    DOWN = "down"  # Redis is down: nothing is answered (503)


@bp.get("/healthz")
def healthz():
    """200 when the bot can answer texts ("ok", or "degraded" with the database down); 503
    ("down") when Redis, which every reply needs, is down."""
    app_state = state()
    report = {"redis": "ok", "database": "ok"}
    try:
        app_state.redis.ping()
    except RedisError:
        report["redis"] = "unreachable"
    try:
        with get_engine(app_state.settings.DATABASE_URL).connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, ValueError):
        # Responses wait in the queue until the database is back; replies still work.
        report["database"] = "unreachable"
    if report["redis"] != "ok":
        report["status"] = HealthStatus.DOWN  # no text can be answered
    elif report["database"] != "ok":
        report["status"] = HealthStatus.DEGRADED
    else:
        report["status"] = HealthStatus.OK
    return jsonify(report), (503 if report["status"] is HealthStatus.DOWN else 200)
