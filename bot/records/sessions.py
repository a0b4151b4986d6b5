"""One inbound message, applied atomically to a respondent's conversation in Redis.

Each transition WATCHes every key it reads (the session, the reply cache of this message, the
opt-out, invitation and completion markers, the version of the open-wave registry), runs the
pure engine, and writes the new session, the reply cache, the markers and, sealed into the
storage inbox (bot/records/inbox.py), every counter about this respondent and (on completion)
the response, in one MULTI/EXEC. That MULTI names the respondent's pseudonym, and Redis may
persist it whole: so nothing in it that is about their answers or their path through the
questions is in clear, and it enqueues no job (RQ would add exact times). Two messages racing
for one respondent retry until each applies exactly once; the same message delivered twice
finds its reply already cached and changes nothing.

Which wave a text belongs to: the wave of the conversation in flight; else the wave the
respondent was invited to; else the open wave whose start keyword the text is; else the
default open wave. Until any wave has been opened (a fresh installation), one implicit wave
(`DEFAULT_WAVE`, the questionnaire file) is open.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from blinker import Namespace
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError
from rq import Queue

from bot.core.engine import (
    Channel,
    Event,
    EventType,
    Inbound,
    Session,
    Signal,
    Step,
    outside_wave,
    step,
)
from bot.core.optout import OptOutType, may_change_opt_state
from bot.core.questionnaire import Questionnaire
from bot.core.text import clean_body, normalize
from bot.infra import clock, defaults, keys
from bot.infra.exceptions import SessionConflict
from bot.infra.privacy import ONE_CALL_PREFIX
from bot.infra.queues import enqueue_opt_out
from bot.infra.sealing import ConversationCipher, SealError
from bot.infra.weeks import iso_week
from bot.outreach.waves import OpenWave, Registry, RegistryCache
from bot.records import inbox, snapshots
from bot.records.counted import count_started, settle_language

log = logging.getLogger(__name__)
_signals = Namespace()
# Sent once a message has changed a conversation (never for a replayed one), with the
# respondent's pseudonym as sender, `events` (the step's EventTypes), `opted_out` (they had
# opted out when the text came), `step` and the `questionnaire` it walked. In-process only: the
# simulator listens to show what a real phone sees from Twilio, not from the bot (Advanced
# Opt-Out answers STOP and START itself), and which WhatsApp buttons the last reply shows.
message_applied = _signals.signal("message-applied")

# Marks an encrypted conversation value (older releases wrote plain JSON).
ENCRYPTED = b"e1:"

_OPT_EVENTS = (EventType.OPTED_OUT, EventType.OPTED_IN)

# Reply caches a session remembers so it can delete them when it ends. Older ones expire on
# their own long before the session does (MESSAGE_DEDUP_TTL_SECONDS < SESSION_TTL_HOURS).
MAX_TRACKED_MESSAGES = 200


@dataclass(frozen=True)
class Conversation:
    """What a transition needs besides the message: where and for how long to keep state."""

    redis: Redis
    queue: Queue
    questionnaire: Questionnaire  # the file's: the implicit wave, and texts outside any wave
    wave: str  # name of the implicit wave
    session_ttl: int  # seconds
    registry: RegistryCache
    storage_public_key: str  # completed responses and counters are sealed to it
    snapshots: snapshots.Snapshots = field(default_factory=snapshots.Snapshots)


def _apply_event(
    conv: Conversation,
    pipe: Pipeline,
    wave: OpenWave | None,
    pseudonym: str,
    event: Event,
    today: dt.date,
    done: set[bytes],
    counted: dict,
) -> dict:
    """Queue what an event changes; returns the conversation's counted markers after it."""
    if event.type is EventType.OPTED_OUT:
        pipe.set(keys.opted_out(pseudonym), "1")
        pipe.delete(keys.invited(pseudonym))
        enqueue_opt_out(conv.queue, pseudonym, today.isoformat(), opted_out=True, pipeline=pipe)
    elif event.type is EventType.OPTED_IN:
        pipe.delete(keys.opted_out(pseudonym))
        enqueue_opt_out(conv.queue, pseudonym, today.isoformat(), opted_out=False, pipeline=pipe)
    if wave is None:
        return counted
    seal_key = conv.storage_public_key
    if event.type is EventType.STARTED:  # once per conversation (bot/records/counted.py)
        lang = event.lang or ""
        return count_started(pipe, seal_key, wave.name, lang, iso_week(today), counted)
    inbox.put_count(pipe, seal_key, wave.name, event.type.value)
    if event.type is EventType.COMPLETED:
        settle_language(pipe, seal_key, wave.name, event.lang, counted)
        if not pseudonym.startswith(ONE_CALL_PREFIX):  # a caller never recognised again
            # The key is WATCHed, so `done` is still what it holds.
            names = sorted({d.decode() for d in done} | {wave.name})
            pipe.set(keys.completed_waves(pseudonym), ",".join(names))
        inbox.put_count(pipe, seal_key, wave.name, f"completed:{event.lang}")
        payload = {
            "response_id": str(uuid.uuid4()),
            "survey": wave.questionnaire.id,
            "survey_version": wave.questionnaire.version,
            "wave": wave.name,
            "language": event.lang,
            "completed_on": today.isoformat(),
            "answers": event.answers,
        }
        inbox.put(pipe, seal_key, inbox.RESPONSE, payload)
    return counted


def _written(cipher: ConversationCipher, value: object) -> bytes:
    """A conversation value as Redis keeps it: JSON, encrypted under the respondent's key."""
    return ENCRYPTED + cipher.encrypt(json.dumps(value, separators=(",", ":")).encode())


def _read(cipher: ConversationCipher, raw: bytes | None) -> object | None:
    """A value written by `_written`. A plain JSON one (from a release that did not encrypt)
    is read as it is; one that does not open (written under a key since rotated away) is as
    if absent: the conversation starts over rather than fail."""
    if not raw:
        return None
    if not raw.startswith(ENCRYPTED):
        return json.loads(raw)
    try:
        return json.loads(cipher.decrypt(raw[len(ENCRYPTED) :]))
    except SealError:
        log.warning("a conversation value did not open under the current key; starting over")
        return None


def watch_and_read(pipe: Pipeline, names: list[str], reads: list[tuple]) -> list:
    """WATCH some keys and run some reads in one round trip.

    redis-py sends WATCH and each read after it one round trip each; on the webhook path those
    round trips are a fifth of the CPU per message (bench/webhook.py), so the commands go out
    in one packet on the pipeline's own connection, which then stays in WATCH mode for MULTI.
    """
    connection = pipe.connection_pool.get_connection()
    pipe.connection = connection
    pipe.watching = True  # from here on, reset() releases the WATCH whatever happens
    connection.send_packed_command(connection.pack_commands([("WATCH", *names), *reads]))
    connection.read_response()  # OK
    return [connection.read_response() for _ in reads]


def _registry(conv: Conversation, version: bytes | None) -> Registry:
    if version is None:
        # No wave was ever opened: the questionnaire file is the one open (implicit) wave.
        return conv.registry.implicit(conv.wave, conv.questionnaire)
    return conv.registry.get(conv.redis, version)


# Turns a step into what is cached for the message and returned to the channel: the SMS texts,
# or a whole TwiML document for a call. It gets the questionnaire the step walked.
Render = Callable[[Step, Questionnaire], tuple[str, ...]]


def sms_texts(result: Step, questionnaire: Questionnaire) -> tuple[str, ...]:
    """The SMS rendering of a step: one text per reply."""
    return tuple(reply.text for reply in result.replies)


def _route(
    registry: Registry,
    envelope: dict,
    invited_raw: bytes | None,
    done: set[bytes],
    text: str,
) -> tuple[OpenWave | None, str | None]:
    """The wave a text goes to, and the invitation's language when it starts one."""
    if envelope:
        return registry.waves.get(envelope.get("wave", "")), None
    if invited_raw:
        invitation = json.loads(invited_raw)
        wave = registry.waves.get(invitation.get("wave", ""))
        if wave is not None and wave.name.encode() not in done:
            return wave, invitation.get("lang")
    found = registry.by_keyword(normalize(clean_body(text)))
    if found is not None:
        return found[0], None
    return registry.default, None


def _started_with(conv: Conversation, wave: OpenWave | None, envelope: dict) -> OpenWave | None:
    """The wave with the questionnaire its conversation started with (bot/records/snapshots.py):
    the one at hand, unless the file was edited since and its snapshot is still kept."""
    digest = envelope.get("survey")
    if wave is None or digest is None or digest == wave.questionnaire.digest:
        return wave
    kept = conv.snapshots.load(conv.redis, digest)
    if kept is None:
        log.warning("a conversation's questionnaire is gone; it goes on with the one in use")
        return wave
    return replace(wave, questionnaire=kept)


def _idle_seconds(conv: Conversation, ttl_ms: int) -> float:
    """How long since the conversation's last step, read from its key's remaining life (each
    step sets it to the full session TTL): the conversation keeps no time of its own."""
    return conv.session_ttl - ttl_ms / 1000 if ttl_ms > 0 else 0.0


def _returning(envelope: dict, channel: Channel, idle_seconds: float) -> bool:
    """Whether a text comes after a pause (WELCOME_BACK_AFTER_HOURS) or after a call."""
    if not envelope or channel is not Channel.SMS:
        return False  # a call greets a caller who comes back on its own (Signal.CALL_START)
    if envelope.get("via") == Channel.VOICE.value:
        return True
    return idle_seconds >= defaults.WELCOME_BACK_AFTER_HOURS * 3600


def _transition(
    conv: Conversation, wave: OpenWave | None, session: Session | None, inbound: Inbound
) -> Step:
    if wave is None:
        return outside_wave(conv.questionnaire, session, inbound)
    return step(wave.questionnaire, session, inbound)


def handle_message(
    conv: Conversation,
    *,
    pseudonym: str,
    message_digest: str,
    text: str = "",
    has_media: bool = False,
    channel: Channel = Channel.SMS,
    signal: Signal | None = None,
    keys_pressed: str | None = None,
    choice: str | None = None,
    confirm_opt_out: bool = False,
    invited_call: bool = False,
    render: Render = sms_texts,
    cipher: ConversationCipher,
    opt_out_type: OptOutType | None = None,
    old_digests: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """Advance the respondent's conversation by one message, exactly once per message.

    A call's steps come here too (`channel=VOICE`): a call answered (`signal`), keys pressed
    or a speech result, each deduplicated by a digest of the CallSid and the step number.
    STOP is about texts, so an opted-out respondent who calls can still answer by phone.
    A WhatsApp message comes as a text (same rules, STOP included); `choice` is the payload of
    a button it tapped, read by the engine as the option it names (bot/core/engine/buttons.py).

    `cipher` encrypts what the conversation keeps (the session and the cached replies) under
    the respondent's own key (bot/infra/sealing.py): Redis's files hold them as noise.

    A message that could change the opt-out state (STOP, START, YES, a revocation, any text
    Twilio marks with `opt_out_type`) leaves a lasting mark, a short keyed digest under the
    pseudonym: replayed after its reply cache expired, it is still never applied twice.
    `old_digests`: the message's digests under the keys of a rotation under way, whose marks
    count too.
    """
    today = clock.today()
    session_key = keys.session(pseudonym)
    seen_key = keys.message_seen(pseudonym, message_digest)
    optout_key = keys.opted_out(pseudonym)
    invited_key = keys.invited(pseudonym)
    done_key = keys.completed_waves(pseudonym)
    marks_key = keys.opt_messages(pseudonym)
    watched = [
        session_key, seen_key, optout_key, invited_key, done_key, keys.WAVES_VERSION, marks_key
    ]  # fmt: skip
    reads = [("MGET", *watched), ("PTTL", session_key)]
    for _ in range(defaults.TRANSITION_MAX_ATTEMPTS):
        with conv.redis.pipeline() as pipe:
            try:
                values, session_ttl_ms = watch_and_read(pipe, watched, reads)
                raw_session, seen, optout, invited_raw, done_raw, version, marks = values
                done = set(done_raw.split(b",")) if done_raw else set()
                if seen is not None:
                    return tuple(_read(cipher, seen) or ())  # handled before: the same answer
                if keys.opt_marked(marks, message_digest, *old_digests):
                    return ()  # an opt-out or opt-in replayed after its reply cache expired
                envelope = _read(cipher, raw_session) or {}
                session = Session.from_dict(envelope["session"]) if envelope else None
                earlier_seen: list[str] = envelope.get("seen", [])
                reached: list[str] = envelope.get("reached", [])
                registry = _registry(conv, version)
                wave, invited_lang = _route(registry, envelope, invited_raw, done, text)
                wave = _started_with(conv, wave, envelope)
                inbound = Inbound(
                    text=text,
                    has_media=has_media,
                    opted_out=optout is not None and channel is Channel.SMS,
                    completed=wave is not None and wave.name.encode() in done,
                    language=invited_lang,
                    channel=channel,
                    signal=signal,
                    keys=keys_pressed,
                    returning=_returning(envelope, channel, _idle_seconds(conv, session_ttl_ms)),
                    opt_out_type=opt_out_type,
                    choice=choice,
                    confirm_opt_out=confirm_opt_out,
                    invited_call=invited_call,
                )
                result = _transition(conv, wave, session, inbound)
                walked = wave.questionnaire if wave else conv.questionnaire
                replies = render(result, walked)

                pipe.multi()
                # The implicit wave's questionnaire is kept while a conversation walks it.
                kept = result.session is not None and wave is not None and version is None
                if kept:
                    snapshots.renew(pipe, wave.questionnaire, conv.session_ttl)  # result 0
                forget = result.session is None or any(
                    e.type is EventType.RESTARTED for e in result.events
                )
                if forget and earlier_seen:
                    # Cached replies trace the path through the questions (a follow-up
                    # question reveals the answer before it): drop them with the answers.
                    pipe.delete(*(keys.message_seen(pseudonym, d) for d in earlier_seen))
                    earlier_seen = []
                counted = dict(envelope.get("counted") or {})
                for event in result.events:
                    counted = _apply_event(conv, pipe, wave, pseudonym, event, today, done, counted)
                if result.session is not None and wave is not None:
                    pending = result.session.question
                    if pending and pending not in reached:
                        reached = [*reached, pending]
                        inbox.put_count(
                            pipe, conv.storage_public_key, wave.name, f"asked:{pending}"
                        )
                    envelope = {
                        "wave": wave.name,
                        "session": result.session.to_dict(),
                        "seen": [*earlier_seen, message_digest][-MAX_TRACKED_MESSAGES:],
                        "reached": reached,
                        "counted": counted,
                        "survey": wave.questionnaire.digest,
                        "via": channel.value,
                    }
                    pipe.set(session_key, _written(cipher, envelope), ex=conv.session_ttl)
                    if invited_lang:
                        pipe.delete(invited_key)  # the invitation has been taken up
                else:
                    pipe.delete(session_key)
                pipe.set(seen_key, _written(cipher, replies), ex=defaults.MESSAGE_DEDUP_TTL_SECONDS)
                if any(e.type in _OPT_EVENTS for e in result.events) or may_change_opt_state(
                    walked, text, opt_out_type
                ):
                    pipe.append(marks_key, keys.opt_mark(message_digest))
                results = pipe.execute()
                if kept and not results[0]:
                    snapshots.restore(conv.redis, wave.questionnaire, conv.session_ttl)
                if message_applied.receivers:  # nobody listens in production: no cost
                    message_applied.send(
                        pseudonym,
                        events=tuple(event.type for event in result.events),
                        opted_out=inbound.opted_out,
                        step=result,
                        questionnaire=walked,
                    )
                return replies
            except WatchError:
                continue
    raise SessionConflict("too many concurrent messages for one respondent")
