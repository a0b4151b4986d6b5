"""GET /healthz: is Redis reachable and taking writes (required), is the database reachable
(storage may lag)."""

from __future__ import annotations

from enum import StrEnum

from flask import Blueprint, jsonify
from redis import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.infra.db import get_engine
from bot.web.state import state

bp = Blueprint("health", __name__)


class HealthStatus(StrEnum):
    """The `status` of /healthz (README, section Production)."""

    OK = "ok"
    DEGRADED = "degraded"  # the database is down: texts are still answered, storage waits
    DOWN = "down"  # Redis is down or full: nothing is answered (503)


# Redis's memory in use, as a share of `maxmemory`, from which /healthz warns (still 200).
NEARLY_FULL = 0.9


def redis_memory(redis: Redis) -> str:
    """ "ok", "nearly full" or "full" (under `noeviction`, Redis then refuses every write, so
    no text can be answered). Without `maxmemory`, or where INFO is refused: "ok"."""
    try:
        memory = redis.info("memory")
    except ResponseError:  # a managed Redis may hide INFO
        return "ok"
    limit = int(memory.get("maxmemory") or 0)
    if limit <= 0:
        return "ok"
    used = int(memory.get("used_memory") or 0)
    if used >= limit:
        return "full"
    return "nearly full" if used >= NEARLY_FULL * limit else "ok"


@bp.get("/healthz")
def healthz():
    """200 when the bot can answer texts ("ok", or "degraded" with the database down or Redis
    nearly full); 503 ("down") when Redis, which every reply needs, is down or full."""
    app_state = state()
    report = {"redis": "ok", "database": "ok"}
    try:
        app_state.redis.ping()
        report["redis"] = redis_memory(app_state.redis)
    except RedisError:
        report["redis"] = "unreachable"
    try:
        with get_engine(app_state.settings.DATABASE_URL).connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, ValueError):
        # Responses wait in the queue until the database is back; replies still work.
        report["database"] = "unreachable"
    if report["redis"] in ("unreachable", "full"):
        report["status"] = HealthStatus.DOWN  # no text can be answered
    elif report["database"] != "ok" or report["redis"] != "ok":
        report["status"] = HealthStatus.DEGRADED
    else:
        report["status"] = HealthStatus.OK
    return jsonify(report), (503 if report["status"] is HealthStatus.DOWN else 200)
