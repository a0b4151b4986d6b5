"""Cron job: make the releases that are due (bot/releases/releases.py), daily at RELEASE_HOUR
in REPORT_TIMEZONE, converted to UTC like the weekly report (bot/releases/schedule.py)."""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from bot.infra.config import Settings
from bot.releases.releases import make_due_releases, release_cron
from bot.releases.schedule import utc_cron_expressions
from workers import context


def make_releases() -> str | dict[str, str]:
    """Cron job: if this firing is RELEASE_HOUR locally, make each wave's next release that has
    RELEASE_MIN_NEW new responses; {wave: outcome}."""
    job = get_current_job()
    moment = job.enqueued_at if job is not None and job.enqueued_at else None
    return make_due_releases(context.settings(), context.redis(), moment)


def register(cron: Any, settings: Settings, queue_name: str) -> list[str]:
    """Register the daily releases with RQ's cron (UTC), once per UTC offset of the zone."""
    expressions = utc_cron_expressions(release_cron(settings), settings.REPORT_TIMEZONE)
    for expression in expressions:
        cron.register(
            make_releases,
            queue_name=queue_name,
            cron=expression,
            name=f"releases ({expression} UTC)",
            result_ttl=7 * 24 * 3600,
        )
    return expressions
