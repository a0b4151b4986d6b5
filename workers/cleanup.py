"""Clean-up job: delete one message or call record at Twilio (TWILIO_DELETE_MESSAGES=1).

The job RQ runs; what it does, and why the SID never leaves it, is in bot/records/cleanup.py.
"""

from __future__ import annotations

import logging

from rq import Retry, get_current_job

from bot.records.cleanup import delete_record
from workers import context

log = logging.getLogger(__name__)


def delete_twilio_record(kind: str, sid: str, *, fallback: bool = False) -> str | Retry:
    """Delete one message or call record at Twilio; returns the outcome (never the SID), or a
    `Retry` for RQ to run it again later. `fallback`: scheduled after a "sent" status, and
    skipped if a final status has scheduled the deletion since."""
    settings, redis, job = context.settings(), context.redis(), get_current_job()
    return delete_record(settings, redis, job, kind, sid, fallback=fallback, log=log)
