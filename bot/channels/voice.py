"""The phone channel: Twilio Voice webhooks that walk a caller through the same survey.

A call is a conversation like a text thread: the same engine, the same session (keyed by the
caller's pseudonym, so a person can start by text and finish by phone, or call back and
resume), the same storage job and dedup. Each webhook of a call is one step, deduplicated by a
keyed digest of the CallSid and the step number carried in the <Gather> action URL; the reply
is a TwiML document, cached like an SMS reply so a retried request gets the same answer.

Nothing of the call is kept: no recording is ever asked for, speech results are read and
dropped, the CallSid and the caller's number go no further than this request (status
callbacks are counted; the CallSid reaches the optional clean-up job only).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Response, abort, request, send_from_directory

from bot.channels.signatures import public_base, twilio_webhook, with_overrides
from bot.channels.twilio_form import Hook
from bot.core.engine import Channel, EventType, Signal, Stage, Step
from bot.core.questionnaire import Questionnaire, QuestionType
from bot.core.text import CONJUNCTIONS, is_number, normalize
from bot.core.voice_prompts import (
    AUDIO_SUFFIXES,
    GATHER_TIMEOUT_SECONDS,
    SPEECH_LANGUAGES,
    Speech,
    memo,
    recording_path,
    recording_url_path,
    speak,
    speech_for,
    speech_hints,
)
from bot.infra import clock, keys
from bot.infra.privacy import message_digest, one_call_pseudonym, pseudonym_for
from bot.infra.rotation import carry_over
from bot.infra.sealing import ConversationCipher, call_cipher, conversation_cipher
from bot.infra.stats import count
from bot.records.sessions import Render, handle_message
from bot.web.state import state

bp = Blueprint("voice", __name__, url_prefix="/twilio/voice")

# AnsweredBy values of Twilio's answering machine detection that are no person.
MACHINE_ANSWERS = ("machine", "fax")
# Call statuses Twilio reports; anything else is counted as "other".
CALL_STATUSES = frozenset(
    {"queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"}
)
# What Twilio and carriers put in From when the caller withholds their number: "ANONYMOUS"
# and "RESTRICTED" spelled on a keypad (+266696687, +7378742833), other sentinels seen in the
# wild, and words. Such callers share no number, so their session is keyed by the call
# itself: they can answer, not resume.
WITHHELD_CALLER_IDS = frozenset(
    {
        "+266696687",
        "+7378742833",
        "+86282452253",
        "+8656696",
        "+2562533",
        "anonymous",
        "restricted",
        "unavailable",
        "unknown",
        "private",
        "blocked",
        "withheld",
    }
)
MIN_CALLER_DIGITS = 7
# Spoken words that ask for the question again, and spoken numbers read as keys.
REPEAT_WORDS = {
    "en": ("repeat", "again", "say again", "repeat that", "what"),
    "es": ("repetir", "repita", "otra vez", "de nuevo", "que"),
}
NUMBER_WORDS = {
    "en": ("one", "two", "three", "four", "five", "six", "seven", "eight"),
    "es": ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho"),
}
_STEP = re.compile(r"[0-9]{1,4}")  # ASCII digits only, matched whole


# ---------------------------------------------------------------------------------- TwiML


def audio_url(filename: str) -> str:
    """Where Twilio fetches a recording: VOICE_AUDIO_BASE_URL, else this app's audio route;
    the file name percent-encoded (a Kreyòl name may hold ò or a space)."""
    settings = state().settings
    base = settings.VOICE_AUDIO_BASE_URL.rstrip("/")
    base = base or f"{public_base(settings)}/twilio/voice/audio"
    return f"{base}/{recording_url_path(filename)}"


def audio_dir() -> Path:
    """The folder of recordings: VOICE_AUDIO_DIR, else `audio/` beside the questionnaire."""
    settings = state().settings
    if settings.VOICE_AUDIO_DIR:
        return Path(settings.VOICE_AUDIO_DIR)
    from bot.core.questionnaire import DEFAULT_SURVEY_PATH

    return Path(settings.SURVEY_FILE or DEFAULT_SURVEY_PATH).parent / "audio"


def has_recording(filename: str) -> bool:
    """Whether a recording can be played (always assumed when served from elsewhere)."""
    if state().settings.VOICE_AUDIO_BASE_URL:
        return True
    folder = audio_dir()
    key = (str(folder), filename)
    now = time.monotonic()
    known = _recordings_seen.get(key)
    if known is not None and now - known[0] < RECORDING_CHECK_SECONDS:
        return known[1]
    exists = recording_path(folder, filename) is not None
    _recordings_seen[key] = (now, exists)
    return exists


# A recording added to the folder is played within this many seconds; meanwhile each web
# process remembers whether a file exists instead of asking the disk on every prompt.
RECORDING_CHECK_SECONDS = 10.0
_recordings_seen: dict[tuple[str, str], tuple[float, bool]] = {}
# TwiML fragments by what they say: the same prompts are said to every caller, so each is
# written once per process (bench/webhook.py --channel voice: a fifth of a call's CPU).
_fragments: dict[tuple, str] = {}


def _said(speech: Speech) -> str:
    """<Play> of the prompt's recording, or <Say> of its text in a voice of its language."""
    url = (
        audio_url(speech.recording) if speech.recording and has_recording(speech.recording) else ""
    )

    def build() -> str:
        if url:
            return f"<Play>{escape(url)}</Play>"
        voice = speech.voice
        attrs = f"language={quoteattr(voice.language)} voice={quoteattr(voice.name)}"
        return f"<Say {attrs}>{escape(speech.text)}</Say>"

    return memo(_fragments, ("said", speech, url), build)


def gather_for(q: Questionnaire, stage: Stage, lang: str | None, question_id: str | None):
    """The <Gather> attributes that fit what the call waits for, in TwiML's spelling."""
    attrs: dict[str, str] = {
        "actionOnEmptyResult": "true",
        "input": "dtmf",
        "method": "POST",
        "timeout": str(GATHER_TIMEOUT_SECONDS),
    }
    question = q.question(question_id) if stage is Stage.QUESTION and question_id else None
    if question is not None and question.type in (QuestionType.MULTI, QuestionType.NUMBER):
        attrs["finishOnKey"] = "#"  # several keys, then #
    else:
        attrs["numDigits"] = "1"
    speech_on = state().settings.VOICE_SPEECH and stage is not Stage.LANGUAGE
    if speech_on and lang in SPEECH_LANGUAGES:
        attrs["input"] = "dtmf speech"
        attrs["language"] = SPEECH_LANGUAGES[lang]
        attrs["speechTimeout"] = "auto"
        hints = speech_hints(q, question, lang) if question is not None else ""
        if hints:
            attrs["hints"] = hints
    return attrs


def _gather_attributes(q: Questionnaire, stage: Stage, lang: str | None, question: str | None):
    speech_on = state().settings.VOICE_SPEECH
    key = ("gather", q.digest, stage, lang, question, speech_on)
    return memo(
        _fragments,
        key,
        lambda: "".join(
            f" {name}={quoteattr(value)}"
            for name, value in sorted(gather_for(q, stage, lang, question).items())
        ),
    )


def call_twiml(q: Questionnaire, result: Step, action: str) -> str:
    """The TwiML of one step of a call: what to say, then listen for the answer or hang up."""
    said = [speech for reply in result.replies for speech in speak(q, reply)]
    paused = next((e for e in result.events if e.type is EventType.PAUSED), None)
    if paused is not None:
        langs = (paused.lang,) if paused.lang else q.languages
        said += [speech_for(q, "message.call_ended", lang) for lang in langs]
    body = "".join(map(_said, said))
    session = result.session
    if session is None or paused is not None:
        body = f"{body}<Hangup />"
    else:
        attributes = _gather_attributes(q, session.stage, session.lang, session.question)
        body = f"<Gather action={quoteattr(action)}{attributes}>{body}</Gather>"
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


# ---------------------------------------------------------------------------------- input


def _caller(sender: str, call_sid: str) -> tuple[str, ConversationCipher]:
    """The caller's pseudonym and conversation cipher: of their number, or of this one call
    when the number is withheld."""
    settings = state().settings
    digits = re.sub(r"\D", "", sender)
    if sender.strip().lower() in WITHHELD_CALLER_IDS or len(digits) < MIN_CALLER_DIGITS:
        key = settings.PSEUDONYM_KEY
        return one_call_pseudonym(key, call_sid), call_cipher(key, call_sid)
    if settings.PSEUDONYM_OLD_KEYS:  # a key rotation is under way: carry this number over
        carry_over(state().redis, settings, sender)
    return pseudonym_for(settings, sender), conversation_cipher(settings.PSEUDONYM_KEY, sender)


def read_speech(speech: str) -> tuple[str, Signal | None]:
    """A speech result as text for the engine: spoken numbers become digits."""
    norm = normalize(speech)
    if any(norm in words for words in REPEAT_WORDS.values()):
        return "", Signal.REPEAT
    words = [w for w in norm.split(" ") if w and w not in CONJUNCTIONS]
    for numbers in NUMBER_WORDS.values():
        words = [str(numbers.index(w) + 1) if w in numbers else w for w in words]
    if words and all(is_number(w) for w in words):
        return " ".join(words), None  # "one and three": the keys 1 and 3
    return speech, None


def _invited_call() -> bool:
    """Whether the bot placed this call (an invitation call): the person is then in `To`."""
    return request.form.get("Direction", "").startswith("outbound")


def _step(call_sid: str, n: int, render: Render, **inbound) -> str:
    settings = state().settings
    invited = _invited_call()
    sender = request.form.get("To" if invited else "From", "")
    pseudonym, cipher = _caller(sender, call_sid)
    (twiml,) = handle_message(
        state().conversation,
        pseudonym=pseudonym,
        cipher=cipher,
        message_digest=message_digest(settings.PSEUDONYM_KEY, f"call:{call_sid}:{n}"),
        old_digests=tuple(
            message_digest(k, f"call:{call_sid}:{n}") for _, k in settings.old_pseudonym_keys
        ),
        channel=Channel.VOICE,
        render=render,
        invited_call=invited,
        **inbound,
    )
    return twiml


def _renderer(n: int) -> Render:
    settings = state().settings
    action = with_overrides(settings, f"{public_base(settings)}/twilio/voice/gather?n={n + 1}")
    return lambda result, q: (call_twiml(q, result, action),)


def _xml(twiml: str) -> Response:
    return Response(twiml, mimetype="text/xml")


# ---------------------------------------------------------------------------------- routes


@bp.post("")
@twilio_webhook(Hook.CALL)
def incoming_call() -> Response | tuple[str, int]:
    """A call answered: the language menu, or where the caller left off."""
    call_sid = request.form.get("CallSid", "")
    if not call_sid or "From" not in request.form:
        return "a Twilio voice webhook needs CallSid and From", 400
    if _invited_call() and request.form.get("AnsweredBy", "").startswith(MACHINE_ANSWERS):
        # An answering machine or fax took the invitation call: end it, leaving nothing.
        with state().redis.pipeline() as pipe:
            count(pipe, keys.call_stats(clock.today().isoformat()), "machine")
            pipe.execute()
        return _xml('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>')
    return _xml(_step(call_sid, 0, _renderer(0), signal=Signal.CALL_START))


@bp.post("/gather")
@twilio_webhook(Hook.CALL)
def gathered() -> Response | tuple[str, int]:
    """Keys pressed or words said after a prompt: one step of the conversation."""
    call_sid = request.form.get("CallSid", "")
    n_raw = request.args.get("n", "")
    if not call_sid or "From" not in request.form or not _STEP.fullmatch(n_raw):
        return "a gather callback needs CallSid, From and the step number", 400
    n = int(n_raw)
    speech = request.form.get("SpeechResult")
    if speech:
        text, signal = read_speech(speech)
        inbound = {"text": text, "signal": signal}
    else:
        inbound = {"keys_pressed": request.form.get("Digits", "")}
    return _xml(_step(call_sid, n, _renderer(n), **inbound))


@bp.post("/status")
@twilio_webhook(Hook.CALL_STATUS)
def call_status() -> tuple[str, int]:
    """A call's outcome: counted per day and status; the CallSid goes to clean-up only."""
    status = (request.form.get("CallStatus") or "").lower()
    status = status if status in CALL_STATUSES else "other"
    day = clock.today().isoformat()
    app_state = state()
    with app_state.redis.pipeline() as pipe:
        count(pipe, keys.call_stats(day), status)
        pipe.execute()
    from bot.records.cleanup import RecordKind, schedule_deletion

    schedule_deletion(
        app_state.settings,
        app_state.redis,
        app_state.queue,
        kind=RecordKind.CALL,
        sid=request.form.get("CallSid") or "",
        status=status,
    )
    return "", 204


@bp.get("/audio/<path:filename>")
def recording(filename: str) -> Response:
    """A Kreyòl recording named in the questionnaire, for Twilio's <Play>."""
    if not filename.endswith(AUDIO_SUFFIXES):
        abort(404)
    return send_from_directory(audio_dir().resolve(), filename, max_age=3600)
