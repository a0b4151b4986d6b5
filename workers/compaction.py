"""Compaction job: Redis rewrites its append-only file (run hourly by cron).

The job RQ runs; why, and what it bounds, is in bot/records/compaction.py.
"""

from __future__ import annotations

import logging

from bot.records.compaction import rewrite_history
from workers import context

log = logging.getLogger(__name__)


def compact_redis_history() -> str:
    """Ask Redis to rewrite its append-only file; returns what happened (no identifiers)."""
    outcome = rewrite_history(context.redis())
    log.info("Redis history: %s", outcome)
    return outcome
