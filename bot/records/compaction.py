"""Redis's history on disk, bounded: an append-only file rewritten at least hourly.

With `appendonly yes` Redis appends every write to its append-only file: every step of every
conversation (encrypted, bot/infra/sealing.py), the sealed records of the storage inbox in the
order they came, and the transactions that joined them. A rewrite (BGREWRITEAOF) replaces the
file by the smallest one that rebuilds what is live now: the steps of ended conversations, the
order of the inbox and the jobs that have run are gone from it. The cron process asks for one
every hour (workers/cron_config.py), so no history older than about an hour survives on disk.
"""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import ResponseError

log = logging.getLogger("surveybot.compaction")


def rewrite_history(redis: Redis) -> str:
    """Ask Redis to rewrite its append-only file; say what happened (for the log and tests)."""
    try:
        appendonly = redis.config_get("appendonly").get("appendonly")
    except ResponseError:
        # A managed Redis that hides CONFIG: ask anyway, it refuses if it cannot.
        appendonly = "unknown"
    if appendonly == "no":
        return "no append-only file to rewrite (appendonly no)"
    try:
        redis.bgrewriteaof()
    except ResponseError as exc:
        if "already in progress" in str(exc):
            return "a rewrite is already in progress"
        log.warning("Redis refused to rewrite its append-only file: %s", exc)
        return f"refused: {exc}"
    return "append-only file rewrite started"
