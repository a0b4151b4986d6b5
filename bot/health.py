"""GET /healthz: is Redis reachable (required), is the database reachable (storage may lag)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.app import state
from bot.db import get_engine

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 when the bot can answer texts; 503 when Redis, which every reply needs, is down."""
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
    code = 200 if report["redis"] == "ok" else 503
    report["status"] = "ok" if code == 200 and report["database"] == "ok" else "degraded"
    return jsonify(report), code
