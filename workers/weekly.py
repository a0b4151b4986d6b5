"""Cron jobs of the calendar: the weekly coalition report and the waves' planned openings and
closings.

The jobs RQ's cron runs; what they do is in bot/releases/weekly.py (at most one report a week,
in the coalition's time zone) and bot/outreach/waves.py (the schedule).
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job

from bot.infra.config import Settings
from bot.outreach.waves import apply_schedule_now
from bot.releases.schedule import utc_cron_expressions
from bot.releases.weekly import send_due_reports, send_or_retry_later
from workers import context


def weekly_report_tick() -> str | dict[str, str]:
    """Cron job: if this firing is a REPORT_CRON moment locally, send last week's report of
    each wave open during that week (see `report_waves`); {wave: outcome}."""
    job = get_current_job()
    moment = job.enqueued_at if job is not None and job.enqueued_at else None
    return send_due_reports(context.settings(), context.redis(), moment)


def retry_weekly_report(week: str, attempt: int) -> str | dict[str, str]:
    """A later try at a week's reports after a failed send (scheduled by the weekly job)."""
    return send_or_retry_later(context.settings(), context.redis(), week, attempt=attempt)


def register(cron: Any, settings: Settings, queue_name: str) -> list[str]:
    """Register the weekly report with RQ's cron (UTC), once per UTC offset of the zone."""
    expressions = utc_cron_expressions(settings.REPORT_CRON, settings.REPORT_TIMEZONE)
    for expression in expressions:
        cron.register(
            weekly_report_tick,
            queue_name=queue_name,
            cron=expression,
            name=f"weekly report ({expression} UTC)",
            result_ttl=7 * 24 * 3600,
        )
    return expressions


def apply_wave_schedule() -> list[str]:
    """Cron job: open and close waves at the times organizers planned."""
    return apply_schedule_now(context.settings(), context.redis())
