"""One inbound message, applied atomically to a respondent's conversation in Redis.

Each transition WATCHes every key it reads (the session, the reply cache of this message, the
opt-out and completion markers), runs the pure engine, and writes the new session, the reply
cache, the markers, the counters and (on completion) the storage job in one MULTI/EXEC. Two
messages racing for one respondent retry until each applies exactly once; the same message
delivered twice finds its reply already cached and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError
from rq import Queue

from bot import defaults, keys
from bot.engine import Event, EventType, Inbound, Session, step
from bot.exceptions import SessionConflict
from bot.questionnaire import Questionnaire
from bot.weeks import iso_week
from workers.queues import enqueue_opt_out, enqueue_store_response

# Reply caches a session remembers so it can delete them when it ends. Older ones expire on
# their own long before the session does (MESSAGE_DEDUP_TTL_SECONDS < SESSION_TTL_HOURS).
MAX_TRACKED_MESSAGES = 200


@dataclass(frozen=True)
class Conversation:
    """What a transition needs besides the message: where and for how long to keep state."""

    redis: Redis
    queue: Queue
    questionnaire: Questionnaire
    wave: str
    session_ttl: int  # seconds


@dataclass(frozen=True)
class Handled:
    """The replies to send, and whether this message had been handled before."""

    replies: tuple[str, ...]
    duplicate: bool


def _apply_event(
    conv: Conversation, pipe: Pipeline, pseudonym: str, event: Event, today: dt.date
) -> None:
    stats = keys.wave_stats(conv.wave)
    pipe.hincrby(stats, event.type.value, 1)
    if event.type is EventType.STARTED:
        pipe.hincrby(stats, f"started:{event.lang}", 1)
        pipe.hincrby(stats, f"started:{iso_week(today)}", 1)
    elif event.type is EventType.COMPLETED:
        pipe.set(keys.completed(pseudonym, conv.wave), "1")
        pipe.hincrby(stats, f"completed:{event.lang}", 1)
        payload = {
            "response_id": str(uuid.uuid4()),
            "survey": conv.questionnaire.id,
            "survey_version": conv.questionnaire.version,
            "wave": conv.wave,
            "language": event.lang,
            "completed_on": today.isoformat(),
            "answers": event.answers,
        }
        enqueue_store_response(conv.queue, payload, pipeline=pipe)
    elif event.type is EventType.OPTED_OUT:
        pipe.set(keys.opted_out(pseudonym), "1")
        enqueue_opt_out(conv.queue, pseudonym, today.isoformat(), opted_out=True, pipeline=pipe)
    elif event.type is EventType.OPTED_IN:
        pipe.delete(keys.opted_out(pseudonym))
        enqueue_opt_out(conv.queue, pseudonym, today.isoformat(), opted_out=False, pipeline=pipe)


def watch_and_read(pipe: Pipeline, *names: str) -> list[bytes | None]:
    """WATCH some keys and read their values in one round trip (WATCH then MGET).

    redis-py sends WATCH and the reads after it one round trip each; on the webhook path those
    round trips are a fifth of the CPU per message (bench/webhook.py), so both commands go out
    in one packet on the pipeline's own connection, which then stays in WATCH mode for MULTI.
    """
    connection = pipe.connection_pool.get_connection()
    pipe.connection = connection
    pipe.watching = True  # from here on, reset() releases the WATCH whatever happens
    connection.send_packed_command(connection.pack_commands([("WATCH", *names), ("MGET", *names)]))
    connection.read_response()  # OK
    return connection.read_response()


def handle_message(
    conv: Conversation,
    *,
    pseudonym: str,
    message_digest: str,
    text: str,
    has_media: bool = False,
    today: dt.date | None = None,
) -> Handled:
    """Advance the respondent's conversation by one message, exactly once per message."""
    today = today or dt.date.today()
    session_key = keys.session(pseudonym)
    seen_key = keys.message_seen(pseudonym, message_digest)
    optout_key = keys.opted_out(pseudonym)
    done_key = keys.completed(pseudonym, conv.wave)
    for _ in range(defaults.TRANSITION_MAX_ATTEMPTS):
        with conv.redis.pipeline() as pipe:
            try:
                raw_session, seen, optout, done = watch_and_read(
                    pipe, session_key, seen_key, optout_key, done_key
                )
                if seen is not None:
                    return Handled(tuple(json.loads(seen)), duplicate=True)
                envelope = json.loads(raw_session) if raw_session else {}
                session = Session.from_dict(envelope["session"]) if envelope else None
                earlier_seen: list[str] = envelope.get("seen", [])
                result = step(
                    conv.questionnaire,
                    session,
                    Inbound(
                        text=text,
                        has_media=has_media,
                        opted_out=optout is not None,
                        completed=done is not None,
                    ),
                )
                replies = tuple(reply.text for reply in result.replies)
                pipe.multi()
                forget = result.session is None or any(
                    e.type is EventType.RESTARTED for e in result.events
                )
                if forget and earlier_seen:
                    # Cached replies trace the path through the questions (a follow-up
                    # question reveals the answer before it): drop them with the answers.
                    pipe.delete(*(keys.message_seen(pseudonym, d) for d in earlier_seen))
                    earlier_seen = []
                if result.session is not None:
                    seen_now = [*earlier_seen, message_digest][-MAX_TRACKED_MESSAGES:]
                    envelope = {"session": result.session.to_dict(), "seen": seen_now}
                    pipe.set(session_key, json.dumps(envelope), ex=conv.session_ttl)
                else:
                    pipe.delete(session_key)
                pipe.set(seen_key, json.dumps(replies), ex=defaults.MESSAGE_DEDUP_TTL_SECONDS)
                for event in result.events:
                    _apply_event(conv, pipe, pseudonym, event, today)
                pipe.execute()
                return Handled(replies, duplicate=False)
            except WatchError:
                continue
    raise SessionConflict("too many concurrent messages for one respondent")
