"""Jobs run by `surveybot cron` (RQ's cron scheduler; exactly one such process runs).

Loaded by the cron process only; it reads the settings once, like every process does.
"""

from rq import cron

from bot.infra import defaults
from workers import context, releases, weekly
from workers.storage import requeue_failed_storage

# Storage jobs that exhausted their retries during a long database outage go back on the queue.
cron.register(
    requeue_failed_storage,
    queue_name=defaults.QUEUE_NAME,
    interval=defaults.REQUEUE_FAILED_EVERY_SECONDS,
)

# Waves open and close at the times organizers planned (checked every minute).
cron.register(weekly.apply_wave_schedule, queue_name=defaults.QUEUE_NAME, cron="* * * * *")

# The weekly coalition report at REPORT_CRON in REPORT_TIMEZONE (converted to UTC).
weekly.register(cron, context.settings(), defaults.QUEUE_NAME)

# The releases (every figure any view shows) daily at RELEASE_HOUR in REPORT_TIMEZONE.
releases.register(cron, context.settings(), defaults.QUEUE_NAME)
