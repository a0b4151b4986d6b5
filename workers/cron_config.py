"""Jobs run by `surveybot cron` (RQ's cron scheduler; exactly one such process runs).

Loaded by the cron process only; it reads the settings once, like every process does.
"""

from rq import cron

from bot.infra import defaults
from workers import context, releases, weekly
from workers.compaction import compact_redis_history
from workers.storage import requeue_failed_storage, store_batch

# Completed responses go to the database in shuffled batches: every 30 s the job checks
# whether a batch is due (BATCH_MIN_SIZE records and BATCH_MIN_HOURS since the last one).
cron.register(
    store_batch,
    queue_name=defaults.QUEUE_NAME,
    interval=defaults.BATCH_CHECK_EVERY_SECONDS,
    result_ttl=0,
)

# Opt-out jobs that exhausted their retries during a long database outage go back on the queue.
cron.register(
    requeue_failed_storage,
    queue_name=defaults.QUEUE_NAME,
    interval=defaults.REQUEUE_FAILED_EVERY_SECONDS,
)

# Redis rewrites its append-only file every hour: the steps of ended conversations and the
# order of the storage inbox leave the disk within the hour (bot/records/compaction.py).
cron.register(
    compact_redis_history,
    queue_name=defaults.QUEUE_NAME,
    interval=defaults.COMPACT_REDIS_EVERY_SECONDS,
)

# Waves open and close at the times organizers planned (checked every minute).
cron.register(weekly.apply_wave_schedule, queue_name=defaults.QUEUE_NAME, cron="* * * * *")

# The weekly coalition report at REPORT_CRON in REPORT_TIMEZONE (converted to UTC).
weekly.register(cron, context.settings(), defaults.QUEUE_NAME)

# The releases (every figure any view shows) daily at RELEASE_HOUR in REPORT_TIMEZONE.
releases.register(cron, context.settings(), defaults.QUEUE_NAME)
