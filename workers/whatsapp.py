"""WhatsApp job: send one reply whose last message has quick-reply buttons.

The job RQ runs; what it does, and why its argument is sealed, is in
bot/records/whatsapp_turns.py.
"""

from __future__ import annotations

from rq import Retry, get_current_job

from bot.records.whatsapp_turns import send_turn
from workers import context


def send_whatsapp_turn(sealed: str) -> str | Retry:
    """Send one sealed WhatsApp turn; returns the outcome (never the number), or a `Retry`."""
    settings, redis, job = context.settings(), context.redis(), get_current_job()
    return send_turn(settings, redis, job, sealed)
