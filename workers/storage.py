"""Storage jobs: completed responses (in batches) and opt-outs go from Redis to the database.

The jobs RQ runs; what they do is in bot/records/batches.py and bot/records/responses.py.
"""

from __future__ import annotations

from typing import Any

from redis import Redis

from bot.records import batches, responses
from workers import context


def store_batch(force: bool = False) -> str:
    """Cron job: store the storage inbox as one shuffled batch if one is due (or `force`)."""
    result = batches.store_batch(context.settings(), context.redis(), force=force)
    return f"{result.status}: {result.records} records"


def store_response(payload: dict[str, Any]) -> str:
    """A storage job queued by a release before the storage inbox: write its response (a
    second run with the same id changes nothing); if the database is down, to the inbox."""
    settings = context.settings()
    return responses.store_response(
        settings.DATABASE_URL, context.redis(), payload, public_key=settings.storage_public_key
    )


def record_opt_out(pseudonym: str, day: str) -> str:
    """Remember an opt-out by pseudonym (idempotent)."""
    return responses.record_opt_out(context.settings().DATABASE_URL, pseudonym, day)


def record_opt_in(pseudonym: str) -> str:
    """Forget an opt-out after START (idempotent)."""
    return responses.record_opt_in(context.settings().DATABASE_URL, pseudonym)


def requeue_failed_storage(connection: Redis | None = None, queue_name: str | None = None) -> int:
    """Put failed opt-out jobs back on the queue, and move responses an earlier release parked
    into the storage inbox (run hourly by cron)."""
    return responses.requeue_failed_storage(
        connection, queue_name, public_key=context.settings().storage_public_key
    )
