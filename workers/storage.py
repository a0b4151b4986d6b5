"""Storage jobs: completed responses and opt-outs go from Redis to the database.

The jobs RQ runs; what they do is in bot/records/responses.py.
"""

from __future__ import annotations

from typing import Any

from redis import Redis

from bot.records import responses
from workers import context


def store_response(payload: dict[str, Any]) -> str:
    """Write one completed response; a second run with the same id changes nothing."""
    return responses.store_response(context.settings().DATABASE_URL, context.redis(), payload)


def record_opt_out(pseudonym: str, day: str) -> str:
    """Remember an opt-out by pseudonym (idempotent)."""
    return responses.record_opt_out(context.settings().DATABASE_URL, pseudonym, day)


def record_opt_in(pseudonym: str) -> str:
    """Forget an opt-out after START (idempotent)."""
    return responses.record_opt_in(context.settings().DATABASE_URL, pseudonym)


def requeue_failed_storage(connection: Redis | None = None, queue_name: str | None = None) -> int:
    """Put parked responses and failed storage jobs back on the queue (run hourly by cron)."""
    return responses.requeue_failed_storage(connection, queue_name)
