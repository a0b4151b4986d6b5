"""Aggregation job: keep a wave's aggregate profiles equal to what its raw answers say.

The job RQ runs; what it does is in bot/releases/aggregates.py.
"""

from __future__ import annotations

from bot.releases import aggregates
from workers import context


def refresh_aggregates(wave: str) -> int:
    """RQ job: bring one wave's aggregates up to date with its stored responses."""
    return aggregates.refresh_aggregates(context.settings(), context.redis(), wave)
