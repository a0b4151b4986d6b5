"""Counters of outcomes in Redis: hashes of counts with no identifiers, kept STATS_TTL_DAYS."""

from __future__ import annotations

from redis.client import Pipeline

from bot.infra import defaults

STATS_TTL_SECONDS = defaults.STATS_TTL_DAYS * 24 * 3600


def count(pipe: Pipeline, key: str, *fields: str, amount: int = 1) -> None:
    """Add `amount` to each field of the hash `key` (queued on `pipe`), renewing its lifetime."""
    for field in fields:
        pipe.hincrby(key, field, amount)
    pipe.expire(key, STATS_TTL_SECONDS)
