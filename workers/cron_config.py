"""Jobs run by `surveybot cron` (RQ's cron scheduler; exactly one such process runs)."""

from rq import cron

from bot import defaults
from workers.storage import requeue_failed_storage

# Storage jobs that exhausted their retries during a long database outage go back on the queue.
cron.register(
    requeue_failed_storage,
    queue_name=defaults.QUEUE_NAME,
    interval=defaults.REQUEUE_FAILED_EVERY_SECONDS,
)
