"""Every Redis key in one place.

Per-respondent keys carry the pseudonym in a hash tag (`{...}`) so that, on a clustered Redis,
all keys of one respondent live on one shard and a transition stays a single-slot transaction.
No key or value ever holds a phone number or a Twilio SID: only pseudonyms and keyed digests.
"""

PREFIX = "sb"


def session(pseudonym: str) -> str:
    """A conversation in flight (JSON, with a TTL)."""
    return f"{PREFIX}:{{{pseudonym}}}:session"


def message_seen(pseudonym: str, message_digest: str) -> str:
    """The reply already given to one inbound message (dedup of Twilio retries, with a TTL)."""
    return f"{PREFIX}:{{{pseudonym}}}:msg:{message_digest}"


def opted_out(pseudonym: str) -> str:
    """Present while this respondent has opted out (STOP) and not back in (START)."""
    return f"{PREFIX}:{{{pseudonym}}}:optout"


def opt_messages(pseudonym: str) -> str:
    """Keyed digests (16 hex, comma-terminated) of the messages that could change this
    respondent's opt-out state, kept for good: a replay of one, however late, changes nothing.
    A plain string so it is read in the same MGET as the rest of the conversation."""
    return f"{PREFIX}:{{{pseudonym}}}:optmsgs"


OPT_MARK_CHARS = 16  # of a message digest, in `opt_messages`


def opt_mark(message_digest: str) -> bytes:
    """What `opt_messages` keeps of a message: the start of its keyed digest, and a comma."""
    return message_digest[:OPT_MARK_CHARS].encode() + b","


def opt_marked(marks: bytes | None, *message_digests: str) -> bool:
    """Whether an `opt_messages` value holds one of a message's digests."""
    held = set((marks or b"").split(b","))
    return any(opt_mark(d)[:-1] in held for d in message_digests)


def wave_stats(wave: str) -> str:
    """Hash of counters for a wave (started, completed, declined, opted_out...)."""
    return f"{PREFIX}:stats:wave:{wave}"


def delivery_stats(day: str) -> str:
    """Hash of delivery outcome counts per day (status callbacks), no identifiers."""
    return f"{PREFIX}:stats:delivery:{day}"


def call_stats(day: str) -> str:
    """Hash of call outcome counts per day (voice status callbacks), no identifiers."""
    return f"{PREFIX}:stats:calls:{day}"


def simulator_outbox(pseudonym: str) -> str:
    """Outbound messages for a simulated phone (development only)."""
    return f"{PREFIX}:sim:outbox:{pseudonym}"


def whatsapp_window(pseudonym: str) -> str:
    """Present ("1") while WhatsApp lets the bot send this respondent free-form text: it expires
    within 24 hours of their last WhatsApp message (bot/channels/whatsapp.py)."""
    return f"{PREFIX}:{{{pseudonym}}}:wa-window"


def whatsapp_turn_sent(pseudonym: str, message_digest: str) -> str:
    """Present once the reply to one inbound WhatsApp message was handed to the job that sends
    it with quick-reply buttons: a retried webhook queues no second one (with a TTL)."""
    return f"{PREFIX}:{{{pseudonym}}}:wa-turn:{message_digest}"


# ContentSids of the quick-reply contents made at Twilio (`surveybot whatsapp buttons sync`),
# by fingerprint of what the content shows (bot/records/quick_replies.py): no respondent data.
WHATSAPP_QUICK_REPLIES = f"{PREFIX}:wa-quick-replies"


def whatsapp_turn_progress(job_id: str) -> str:
    """How many messages of one WhatsApp turn its job has sent (so a retry sends none twice)."""
    return f"{PREFIX}:wa-turn-progress:{job_id}"


def whatsapp_turn_stats(day: str) -> str:
    """Outcomes of the jobs sending WhatsApp turns with buttons, per day (counts only)."""
    return f"{PREFIX}:stats:wa-turns:{day}"


def completed_waves(pseudonym: str) -> str:
    """The waves this respondent completed, comma-separated (no link to the answers); a wave's
    name is removed when the wave closes. A plain string so it is read in the same MGET as the
    rest of the conversation."""
    return f"{PREFIX}:{{{pseudonym}}}:done"


def invited(pseudonym: str) -> str:
    """JSON {"wave": ..., "lang": ...} while an invitation to this respondent is pending."""
    return f"{PREFIX}:{{{pseudonym}}}:invited"


def asked_stats(wave: str) -> str:
    """Hash: per question, how many respondents of a wave reached it (for drop-off)."""
    return f"{PREFIX}:stats:asked:{wave}"


def invite_stats(wave: str) -> str:
    """Hash of a wave's invitation counters (InviteCount, and error:CODE), no identifiers."""
    return f"{PREFIX}:stats:invites:{wave}"


def invite_message(digest: str) -> str:
    """The wave an invitation message belongs to, by keyed digest of its MessageSid."""
    return f"{PREFIX}:invite:msg:{digest}"


def invite_claim(pseudonym: str, wave: str) -> str:
    """Present once `wave` has sent (or is sending) an invitation to this respondent."""
    return f"{PREFIX}:{{{pseudonym}}}:invite:{wave}"


def remind_claim(pseudonym: str, wave: str, number: int) -> str:
    """Present once `wave` has sent (or is sending) its `number`th reminder to this respondent."""
    return f"{PREFIX}:{{{pseudonym}}}:remind:{wave}:{number}"


# Daily caps on outreach texts (bot/outreach/pacing.py): counters per day (days since
# 1970-01-01 on the bot's calendar) for the sender and per wave, in one hash slot so a single
# script reserves in both.
CAP_SENDER_PREFIX = f"{PREFIX}:{{outreach}}:cap:sms:"
CAP_WAVE_PREFIX = f"{PREFIX}:{{outreach}}:cap:wave:"


def questionnaire_snapshot(digest: str) -> str:
    """The text of a questionnaire the implicit wave's conversations walk, by its digest
    (bot/records/snapshots.py); it expires once no conversation has used it for a session's
    lifetime."""
    return f"{PREFIX}:survey:{digest}"


WAVES_OPEN = f"{PREFIX}:waves:open"  # hash: wave name -> JSON of its questionnaire and keywords
WAVES_VERSION = f"{PREFIX}:waves:version"  # bumped on every change of WAVES_OPEN


# Sealed records (completed responses, per-respondent counters) waiting for the next storage
# batch: a set, so nothing in it or in a rewritten append-only file keeps their order
# (bot/records/inbox.py).
STORAGE_INBOX = f"{PREFIX}:storage:inbox"
# When the last storage batch was written (epoch seconds): a batch closes at BATCH_MIN_SIZE
# records or BATCH_MIN_HOURS after the previous one, whichever is later.
STORAGE_LAST_BATCH = f"{PREFIX}:storage:last-batch"

# Where releases before the storage inbox parked responses whose storage job ran out of retries
# during a database outage (plain payloads). Read only to move them into the inbox (hourly cron).
PARKED_RESPONSES = f"{PREFIX}:storage:parked"


def cleanup_scheduled(kind: str, record_digest: str) -> str:
    """Present while the deletion at Twilio of one record is scheduled after its final status
    (by keyed digest of its SID, never the SID; with a short TTL)."""
    return f"{PREFIX}:cleanup:{kind}:{record_digest}"


def cleanup_fallback(kind: str, record_digest: str) -> str:
    """Present while a delayed deletion is scheduled for a message whose last status was "sent"."""
    return f"{PREFIX}:cleanup:{kind}:{record_digest}:sent"


def cleanup_stats(day: str) -> str:
    """Hash of deletions at Twilio per day ("message:deleted", "call:failed"...), no identifiers."""
    return f"{PREFIX}:stats:cleanup:{day}"
