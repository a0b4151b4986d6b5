"""Every default in one place, named."""

SESSION_TTL_HOURS = 72
SMALL_CELL_MIN = 5
SEND_RATE_PER_SECOND = 1.0
REPORT_CRON = "0 8 * * 1"  # Monday 08:00 in REPORT_TIMEZONE
REPORT_TIMEZONE = "America/New_York"
DEFAULT_WAVE = "default"  # the one wave that is always open until waves exist
MESSAGE_DEDUP_TTL_SECONDS = 6 * 3600  # Twilio retries within minutes; hours is generous
STATS_TTL_DAYS = 400
STORE_RETRY_INTERVALS = (10, 30, 60, 300, 900, 1800, 3600, 3600, 3600, 3600)
REQUEUE_FAILED_EVERY_SECONDS = 3600
TRANSITION_MAX_ATTEMPTS = 50
QUEUE_NAME = "surveybot"
INSTANCE_DIR = "instance"
DEV_PORT = 5000
