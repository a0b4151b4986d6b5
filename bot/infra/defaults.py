"""Every default in one place, named."""

SESSION_TTL_HOURS = 72
SMALL_CELL_MIN = 5
SEND_RATE_PER_SECOND = 1.0
# Outreach (bot/outreach/windows.py, pacing.py): texts go out only between these hours in the
# recipient's local time (a wave may set its own), at most SEND_DAILY_CAP a day from our sender
# (a low-volume US 10DLC brand may send about 2,000 a day to T-Mobile subscribers; 0: no cap).
SEND_WINDOW = "9:00-20:00"
SEND_DAILY_CAP = 2000
CALL_RATE_PER_SECOND = 1.0  # invitation calls placed per second (their own pace)
# WhatsApp template invitations a second: Twilio's default throughput for a WhatsApp sender.
WHATSAPP_RATE_PER_SECOND = 10.0
REMIND_AFTER_DAYS = 3  # a reminder goes only this many days after the last text to a person
MAX_REMINDERS = 1
REPORT_CRON = "0 8 * * 1"  # Monday 08:00 in REPORT_TIMEZONE
REPORT_TIMEZONE = "America/New_York"
# Releases (the published snapshots every view shows): made daily at RELEASE_HOUR in
# REPORT_TIMEZONE, only once RELEASE_MIN_NEW responses were stored since the previous one.
RELEASE_HOUR = 6
RELEASE_MIN_NEW = 20
# In production RELEASE_MIN_NEW must be at least this many times SMALL_CELL_MIN: a release that
# adds few responses to the one before would let a viewer subtract one from the other.
RELEASE_MIN_NEW_FACTOR = 2
DEFAULT_WAVE = "default"  # the one wave that is always open until waves exist
# Twilio's webhook connection overrides (a URL fragment) on the URLs the bot hands Twilio for a
# call's next step: up to 5 more attempts when the bot answers 5xx, cannot be reached or is late.
TWILIO_CONNECTION_OVERRIDES = "rc=5&rp=5xx,ct,rt"
# A text this many hours after a conversation's last step (read from its key's remaining life)
# is greeted with "welcome back" when it answers nothing (bot/records/sessions.py).
WELCOME_BACK_AFTER_HOURS = 2
MESSAGE_DEDUP_TTL_SECONDS = 6 * 3600  # Twilio retries within minutes; hours is generous
STATS_TTL_DAYS = 400
# WhatsApp's customer service window: free-form text may go out until 24 hours after the
# person's last message; later, only an approved template. The bot's record of it ends on the
# hour before (never later than WhatsApp's), so Redis's files date a message to the hour only.
WHATSAPP_WINDOW_SECONDS = 24 * 3600
WHATSAPP_WINDOW_ROUNDING_SECONDS = 3600
# A WhatsApp turn sent with quick-reply buttons (a job): retried on Twilio's temporary errors
# for about an hour at most, since an answer to a message is useless much later.
WHATSAPP_TURN_RETRY_INTERVALS = (5, 30, 120, 600, 1800)
WHATSAPP_TURN_FAILURE_TTL_SECONDS = 600  # its texts may give an answer away: gone soon
STORE_RETRY_INTERVALS = (10, 30, 60, 300, 900, 1800, 3600, 3600, 3600, 3600)
REQUEUE_FAILED_EVERY_SECONDS = 3600
# How often Redis's append-only file is rewritten: the longest any ended conversation's steps
# stay on disk (README: privacy).
COMPACT_REDIS_EVERY_SECONDS = 3600
# Storage batches (bot/records/batches.py): a batch closes when the inbox holds BATCH_MIN_SIZE
# records and BATCH_MIN_HOURS have passed since the previous one, whichever comes later. In
# development and tests one record and no wait, so a finished survey shows up within a minute.
BATCH_MIN_SIZE = 20
BATCH_MIN_HOURS = 6.0
DEV_BATCH_MIN_SIZE = 1
DEV_BATCH_MIN_HOURS = 0.0
BATCH_MAX_RECORDS = 5000  # records per database transaction; more are split evenly
BATCH_CHECK_EVERY_SECONDS = 30  # how often cron asks whether a batch is due (cheap: SCARD, GET)
TRANSITION_MAX_ATTEMPTS = 50
QUEUE_NAME = "surveybot"
INSTANCE_DIR = "instance"
DEV_PORT = 5000

# Deleting records at Twilio (TWILIO_DELETE_MESSAGES=1). Twilio refuses to delete a record it
# has not finished processing (error 20009) and asks for at least a minute after a message was
# sent or received, or a call ended, before the DELETE.
CLEANUP_DELAY_SECONDS = 90
# A message whose last status is "sent" may never get a delivery receipt; Twilio waits about an
# hour for one before the record is final, so its deletion waits longer (a later final status
# schedules the prompt one instead).
CLEANUP_SENT_DELAY_SECONDS = 70 * 60
# A repeated status callback schedules nothing more while this marker lives (longer than the
# "sent" delay, so the delayed job can see that a final status took over).
CLEANUP_DEDUP_TTL_SECONDS = 6 * 3600
# Retries of temporary errors (429, 5xx, no connection, 20009): Twilio says a record can take
# minutes, rarely days, to become deletable. Then the deletion is counted as failed.
CLEANUP_RETRY_INTERVALS = (60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600)
# Only a job whose worker died mid-run reaches RQ's failed registry (every outcome is settled in
# the job); it holds the SID, so it is dropped after a day.
CLEANUP_FAILURE_TTL_SECONDS = 24 * 3600
CLEANUP_JOB_TIMEOUT_SECONDS = 120
CLEANUP_HTTP_TIMEOUT_SECONDS = 30

# RQ workers (bot/cli/processes.py): how often each runs its maintenance (requeues the jobs of a
# dead worker, takes over a dead worker's scheduler) and checks on the job it runs.
WORKER_MAINTENANCE_SECONDS = 30
JOB_MONITORING_SECONDS = 15
