"""/simulator: a local phone that texts or calls the bot through the real, signed webhooks.

Only registered in development or when SIMULATOR_ENABLED is on. Each simulated text is built
and signed exactly as Twilio would, then handed to the app's own /twilio/sms view, so the
signature check, dedup and conversation code all run for real. Calls work the same way: each
step of a simulated call is the form Twilio posts to /twilio/voice (or to a <Gather>'s action
URL, or to the status callback), signed against the absolute URL as Twilio signs it, and the
TwiML answer is parsed into prompts to show, read aloud and answer on a keypad.
"""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from email.utils import formatdate
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    has_request_context,
    jsonify,
    render_template,
    request,
)
from twilio.request_validator import RequestValidator

from bot.channels.signatures import public_base
from bot.core.engine import EventType
from bot.infra import keys
from bot.infra.privacy import pseudonym_for
from bot.records.sessions import message_applied
from bot.web.state import state

bp = Blueprint("simulator", __name__, url_prefix="/simulator")

SIMULATED_ACCOUNT = "AC" + "0" * 32
SIMULATED_BOT_NUMBER = "+15005550006"  # Twilio's magic test number, never a real phone
MAX_SIM_BODY = 2000

VOICE_PATH = "/twilio/voice"
VOICE_STATUS_PATH = "/twilio/voice/status"
VOICE_AUDIO_PATH = "/twilio/voice/audio/"
MAX_REDIRECTS = 10  # Twilio follows <Redirect>s too, but a loop would hang the simulator
MAX_SIM_DIGITS = 64
MAX_SIM_SPEECH = 500
MAX_CALL_SECONDS = 4 * 3600
SIMULATED_CONFIDENCE = "0.92"  # what Twilio reports for speech it recognized well
# Twilio's defaults for attributes a TwiML document leaves out.
DEFAULT_SAY_LANGUAGE = "en-US"
DEFAULT_GATHER_TIMEOUT = 5
DEFAULT_FINISH_ON_KEY = "#"
# Keys of the Gather action's request that describe the caller's input (not sent on a redirect).
INPUT_PARAMS = ("Digits", "FinishedOnKey", "SpeechResult", "Confidence")
_CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
_KEYS = re.compile(r"^[0-9*#]*$")


def twilio_params(sender: str, body: str, *, media: bool = False) -> dict[str, str]:
    """The form Twilio posts for one inbound SMS."""
    sid = "SM" + uuid.uuid4().hex
    params = {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "1" if media else "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": SIMULATED_BOT_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": SIMULATED_ACCOUNT,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    if media:
        params["MediaContentType0"] = "image/jpeg"
        params["MediaUrl0"] = "https://api.twilio.com/simulated-media"
    return params


def parse_twiml(xml: bytes | str) -> list[str]:
    """The message bodies of a TwiML <Response>."""
    root = ET.fromstring(xml)
    return [(m.text or "") for m in root.iter("Message")]


@dataclass(frozen=True)
class Delivery:
    """What one simulated text got: the webhook's HTTP status, the bot's replies, and what the
    conversation decided (the engine's events; whether the number had opted out)."""

    status: int
    replies: list[str]
    events: tuple[EventType, ...] = ()
    was_opted_out: bool = False

    def notices(self) -> list[str]:
        """What a real phone would see that the bot does not send (Twilio's opt-out handling)."""
        if EventType.OPTED_OUT in self.events:
            return [OPTED_OUT_NOTICE]
        if EventType.OPTED_IN in self.events:
            return [OPTED_IN_NOTICE]
        if self.was_opted_out and self.status == 200:
            return [IGNORED_NOTICE]
        return []


# Shown as system lines, not as texts from the bot: in production Twilio's Advanced Opt-Out
# answers STOP and START itself, and blocks any text to a number that opted out.
OPTED_OUT_NOTICE = (
    "This number is now opted out (STOP). In production Twilio itself confirms the opt-out "
    "to the phone (Advanced Opt-Out); the bot sends nothing and ignores texts from this number "
    "until it texts START."
)
OPTED_IN_NOTICE = (
    "This number is opted back in (START): the bot answers its texts again. In production "
    "Twilio also confirms the opt-in itself (Advanced Opt-Out)."
)
IGNORED_NOTICE = (
    "Ignored: this number is opted out (STOP), so the bot does not answer. "
    "Text START to opt back in."
)


def deliver(app: Flask, sender: str, body: str, *, media: bool = False) -> Delivery:
    """Send one simulated text through the signed webhook; returns what it got."""
    params = twilio_params(sender, body, media=media)
    applied: list[tuple[tuple[EventType, ...], bool]] = []

    def listen(_pseudonym: str, *, events: tuple[EventType, ...], opted_out: bool) -> None:
        applied.append((events, opted_out))

    # The webhook's view of the text (its events) comes from the conversation itself, in this
    # thread: the test client runs the webhook here, and only this number's steps are heard.
    settings = app.extensions["surveybot"].settings
    with message_applied.connected_to(listen, sender=pseudonym_for(settings, sender)):
        status, data, _mimetype = signed_request(app, _public_base(app) + "/twilio/sms", params)
    if status != 200:
        return Delivery(status, [])
    events = tuple(e for step_events, _ in applied for e in step_events)
    return Delivery(200, parse_twiml(data), events, any(out for _, out in applied))


# The page loads its script, styles and recordings from this app only; no inline code runs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@bp.after_request
def security_headers(response: Response) -> Response:
    """The simulator's own Content-Security-Policy (the app adds the common headers)."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response


@bp.get("")
@bp.get("/")
def page() -> str:
    """The phone-like chat page."""
    return render_template("simulator.html")


def _simulated_number() -> str:
    """The simulated phone of a JSON request (its "from"): numbers travel in request bodies
    only, never in a URL, which request logs (Werkzeug's, a proxy's) would keep."""
    data = request.get_json(silent=True)
    return str((data if isinstance(data, dict) else {}).get("from") or "").strip()


@bp.post("/api/send")
def api_send():
    """Text the bot as a simulated phone: JSON {"from": "+1...", "body": "...", "media": false}.

    Answers {status, replies, events, notices}: the webhook's status, the bot's texts, the
    conversation's events ("opted_out", ...) and lines to show beside them (what Twilio, not
    the bot, would tell the phone)."""
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    sender = _simulated_number()
    body = str(data.get("body") or "")[:MAX_SIM_BODY]
    if not sender:
        return jsonify(error="a simulated phone needs a number"), 400
    got = deliver(current_app._get_current_object(), sender, body, media=bool(data.get("media")))
    answer = {
        "status": got.status,
        "replies": got.replies,
        "events": [str(event) for event in got.events],
        "notices": got.notices(),
    }
    return jsonify(answer), (200 if got.status == 200 else 502)


@bp.post("/api/outbox")
def api_outbox():
    """Pop the messages the bot sent to a simulated phone on its own (not as a reply), oldest
    first: JSON {"from": "+1..."}. A POST, as it empties the outbox and keeps the number out
    of the URL."""
    sender = _simulated_number()
    if not sender:
        return jsonify(error="which simulated phone?"), 400
    app_state = state()
    key = keys.simulator_outbox(pseudonym_for(app_state.settings, sender))
    with app_state.redis.pipeline() as pipe:
        pipe.lrange(key, 0, -1)
        pipe.delete(key)
        raw, _ = pipe.execute()
    return jsonify(messages=[json.loads(item)["body"] for item in raw])


# ------------------------------------------------------------------------------- phone calls


class CallStatus(StrEnum):
    """The CallStatus values a simulated call goes through."""

    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"


class CallAction(StrEnum):
    """What the simulated caller does next (`action` of POST /simulator/api/call)."""

    START = "start"
    PRESS = "press"
    SAY = "say"
    HANGUP = "hangup"


class TooManyRedirects(Exception):
    """The bot's TwiML kept redirecting; Twilio would give up on such a call too."""


def new_call_sid() -> str:
    """A fresh CallSid ("CA" + 32 hex digits)."""
    return "CA" + uuid.uuid4().hex


def _country(number: str) -> str:
    """The ISO country Twilio's number lookup would report (only +1 matters here)."""
    return "US" if number.startswith("+1") else ""


def call_params(
    caller: str,
    call_sid: str,
    *,
    status: CallStatus | str,
    digits: str | None = None,
    speech: str | None = None,
    finished_on_key: str | None = None,
    duration: int | None = None,
    sequence: int = 0,
) -> dict[str, str]:
    """The form Twilio posts for one step of an inbound call to our number.

    `digits` (keys pressed, without the finishing key) and `speech` are the caller's input to
    a <Gather>; None leaves them out, as Twilio does when nothing was entered. A completed
    call's status callback also carries its `duration` in seconds.
    """
    status = CallStatus(status).value
    bot, caller_country = SIMULATED_BOT_NUMBER, _country(caller)
    params = {
        "AccountSid": SIMULATED_ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
        "Direction": "inbound",
        "From": caller,
        "Caller": caller,
        "FromCity": "",
        "FromState": "",
        "FromZip": "",
        "FromCountry": caller_country,
        "CallerCity": "",
        "CallerState": "",
        "CallerZip": "",
        "CallerCountry": caller_country,
        "To": bot,
        "Called": bot,
        "ToCity": "",
        "ToState": "",
        "ToZip": "",
        "ToCountry": _country(bot),
        "CalledCity": "",
        "CalledState": "",
        "CalledZip": "",
        "CalledCountry": _country(bot),
    }
    if digits is not None:
        params["Digits"] = digits
        params["FinishedOnKey"] = finished_on_key or ""
    if speech is not None:
        params["SpeechResult"] = speech
        params["Confidence"] = SIMULATED_CONFIDENCE
    if status == CallStatus.COMPLETED.value:
        params["CallDuration"] = str(max(0, duration or 0))
        params["Timestamp"] = formatdate(usegmt=True)
        params["CallbackSource"] = "call-progress-events"
        params["SequenceNumber"] = str(sequence)
    return params


def _int_attr(element: ET.Element, name: str) -> int | None:
    """An integer attribute of a TwiML verb, or None when absent or not a number."""
    raw = (element.get(name) or "").strip()
    return int(raw) if raw.isdigit() else None


def _prompt(element: ET.Element, base_url: str | None) -> dict[str, Any] | None:
    """A <Say> or <Play> as {text, language, voice, audio}; None for any other verb."""
    if element.tag == "Say":
        text = " ".join("".join(element.itertext()).split())
        return {
            "text": text,
            "language": element.get("language") or DEFAULT_SAY_LANGUAGE,
            "voice": element.get("voice"),
            "audio": None,
        }
    if element.tag == "Play":
        url = (element.text or "").strip()
        return {
            "text": None,
            "language": None,
            "voice": None,
            "audio": urljoin(base_url, url) if base_url else url,
        }
    return None


def parse_voice_twiml(xml: bytes | str, *, base_url: str | None = None) -> dict[str, Any]:
    """A TwiML voice <Response>, as what a caller hears and what they can do next.

    Returns {prompts: [{text, language, voice, audio}] in the order they are heard (inside the
    <Gather> or not), gather: {action, method, input, numDigits, finishOnKey, timeout, language,
    hints, actionOnEmptyResult} or None, hangup: bool, redirect: URL or None}. Relative URLs
    are resolved against `base_url` (the document's own URL), as Twilio resolves them; a
    <Gather> without an action posts back to that URL.
    """
    root = ET.fromstring(xml)
    if root.tag != "Response":
        raise ValueError(f"not a TwiML <Response>: <{root.tag}>")

    def absolute(url: str) -> str:
        return urljoin(base_url, url) if base_url else url

    prompts: list[dict[str, Any]] = []
    gather: dict[str, Any] | None = None
    hangup = False
    redirect: str | None = None
    for verb in root:
        if gather is not None or hangup or redirect is not None:
            # Twilio moves on from a <Gather> (to its action), a <Hangup> or a <Redirect>;
            # what follows runs only if a <Gather> timed out without actionOnEmptyResult.
            if verb.tag == "Redirect" and gather is not None and redirect is None:
                redirect = absolute((verb.text or "").strip())
            elif verb.tag == "Hangup" and gather is not None:
                hangup = True
            continue
        prompt = _prompt(verb, base_url)
        if prompt is not None:
            prompts.append(prompt)
        elif verb.tag == "Gather":
            prompts.extend(p for p in (_prompt(child, base_url) for child in verb) if p)
            finish = verb.get("finishOnKey")
            gather = {
                "action": absolute(verb.get("action") or "") or base_url,
                "method": (verb.get("method") or "POST").upper(),
                "input": " ".join((verb.get("input") or "dtmf").split()),
                "numDigits": _int_attr(verb, "numDigits"),
                "finishOnKey": DEFAULT_FINISH_ON_KEY if finish is None else finish,
                "timeout": _int_attr(verb, "timeout") or DEFAULT_GATHER_TIMEOUT,
                "language": verb.get("language") or DEFAULT_SAY_LANGUAGE,
                "hints": verb.get("hints") or None,
                "actionOnEmptyResult": (verb.get("actionOnEmptyResult") or "").lower() == "true",
            }
        elif verb.tag == "Hangup":
            hangup = True
        elif verb.tag == "Redirect":
            redirect = absolute((verb.text or "").strip())
    return {"prompts": prompts, "gather": gather, "hangup": hangup, "redirect": redirect}


def _public_base(app: Flask) -> str:
    """The URL the bot's webhooks are signed for (as Twilio would reach them)."""
    settings = app.extensions["surveybot"].settings
    if has_request_context():
        return public_base(settings)
    return settings.PUBLIC_BASE_URL.rstrip("/") or "http://localhost"


def _local_target(app: Flask, url: str) -> tuple[str, str]:
    """(base_url, path and query) to reach the absolute `url` through the app's test client."""
    base = _public_base(app)
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if base and url.startswith(base + "/"):
        # A PUBLIC_BASE_URL with a path (a proxy's prefix) is not part of the app's routes.
        return origin, url[len(base) :]
    return origin, parts.path + (f"?{parts.query}" if parts.query else "")


def signed_request(
    app: Flask, url: str, params: dict[str, str], *, method: str = "POST"
) -> tuple[int, bytes, str]:
    """Send `params` to the absolute `url` as Twilio does: signed against that exact URL (with
    its query string; a GET carries the params in the query), through the app's test client.
    Returns (HTTP status, body, mimetype)."""
    token = app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    method = method.upper()
    if method == "GET" and params:
        url += ("&" if urlsplit(url).query else "?") + urlencode(params)
    signature = RequestValidator(token).compute_signature(url, {} if method == "GET" else params)
    origin, target = _local_target(app, url)
    with app.test_client() as client:
        response = client.open(
            target,
            method=method,
            base_url=origin,
            data=None if method == "GET" else params,
            headers={"X-Twilio-Signature": signature},
        )
        try:
            return response.status_code, response.get_data(), response.mimetype
        finally:
            response.close()


def deliver_call(
    app: Flask, url: str, params: dict[str, str], *, method: str = "POST"
) -> tuple[int, dict[str, Any]]:
    """One step of a simulated call: post `params` to `url` (signed as Twilio signs it) and
    follow any <Redirect>, as Twilio would. Returns (HTTP status, parsed TwiML of the last
    document, with the prompts of every document on the way)."""
    prompts: list[dict[str, Any]] = []
    for _ in range(MAX_REDIRECTS + 1):
        status, body, _mimetype = signed_request(app, url, params, method=method)
        if status != 200:
            return status, {"prompts": prompts, "gather": None, "hangup": False, "redirect": None}
        twiml = parse_voice_twiml(body, base_url=url)
        prompts.extend(twiml["prompts"])
        if twiml["gather"] is not None or twiml["hangup"] or twiml["redirect"] is None:
            return 200, {**twiml, "prompts": prompts}
        # A <Redirect> posts the call's parameters again, without the caller's input.
        url, method = twiml["redirect"], "POST"
        params = {k: v for k, v in params.items() if k not in INPUT_PARAMS}
    raise TooManyRedirects(url)


def status_callback(app: Flask, caller: str, call_sid: str, duration: int) -> int:
    """Tell the bot the call ended, as Twilio's status callback does; returns the HTTP status."""
    params = call_params(caller, call_sid, status=CallStatus.COMPLETED, duration=duration)
    status, _body, _mimetype = signed_request(app, _public_base(app) + VOICE_STATUS_PATH, params)
    return status


def is_voice_url(app: Flask, url: str, prefix: str = VOICE_PATH) -> bool:
    """Whether `url` is one of this bot's own voice URLs (the simulator signs nothing else)."""
    base = _public_base(app) + prefix
    if "#" in url or any(part in (".", "..") for part in urlsplit(url).path.split("/")):
        return False
    if prefix.endswith("/"):
        return url.startswith(base) and len(url) > len(base)
    return url == base or url.startswith((base + "/", base + "?"))


def recording_name(url: str) -> str:
    """A short name for a <Play>ed recording: its path under the voice audio route, if it is
    one of ours, else its last path segment."""
    path = urlsplit(url).path
    _, marker, rest = path.partition(VOICE_AUDIO_PATH)
    return rest if marker and rest else path.rsplit("/", 1)[-1] or url


def _shown_prompts(app: Flask, prompts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prompts for the page: a recording gets its name, a text, a local source and whether it
    exists."""
    shown = []
    for prompt in prompts:
        audio = prompt["audio"]
        if audio:
            found = False
            if is_voice_url(app, audio, VOICE_AUDIO_PATH):
                found = signed_request(app, audio, {}, method="HEAD")[0] == 200
            name = recording_name(audio)
            prompt = {
                **prompt,
                "recording": name,
                "text": f"(recording: {name})",
                "audio_found": found,
                "audio_src": (
                    f"{request.script_root}/simulator/api/audio?{urlencode({'url': audio})}"
                    if found
                    else None
                ),
            }
        shown.append(prompt)
    return shown


def _duration(data: dict[str, Any]) -> int:
    try:
        return min(MAX_CALL_SECONDS, max(0, int(data.get("duration") or 0)))
    except (TypeError, ValueError):
        return 0


class BadCallRequest(ValueError):
    """A request to the call API that the simulator refuses (400, with this message)."""


def _step(
    app: Flask, action: CallAction, data: dict[str, Any], caller: str, call_sid: str
) -> tuple[str, dict[str, str]]:
    """Where the next webhook of a call goes, and what it carries."""
    if action is CallAction.START:
        return _public_base(app) + VOICE_PATH, call_params(
            caller, call_sid, status=CallStatus.RINGING
        )
    url = str(data.get("url") or "")
    if not is_voice_url(app, url):
        raise BadCallRequest("url must be one of the bot's voice URLs")
    if action is CallAction.SAY:
        speech = " ".join(str(data.get("speech") or "").split())[:MAX_SIM_SPEECH]
        return url, call_params(caller, call_sid, status=CallStatus.IN_PROGRESS, speech=speech)
    digits = str(data.get("digits") or "")[:MAX_SIM_DIGITS]
    finished = str(data.get("finished_on_key") or "")[:1]
    if not _KEYS.match(digits + finished):
        raise BadCallRequest("digits are 0-9, * and #")
    return url, call_params(
        caller,
        call_sid,
        status=CallStatus.IN_PROGRESS,
        # Nothing entered and no key to finish: the <Gather> timed out, no Digits.
        digits=digits if (digits or finished) else None,
        finished_on_key=finished,
    )


@bp.post("/api/call")
def api_call():
    """One step of a simulated phone call through the real, signed voice webhooks.

    JSON {"from": "+1...", "action": "start" | "press" | "say" | "hangup", "call_sid": ...,
    "url": the last <Gather>'s action (or <Redirect>) URL, "digits": "13", "finished_on_key":
    "#", "speech": "yes", "duration": seconds since the call started}. Answers {status,
    call_sid, prompts, gather, redirect, hangup, ended, status_callback}.
    """
    app = current_app._get_current_object()
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    caller = str(data.get("from") or "").strip()
    call_sid = str(data.get("call_sid") or "")
    try:
        if not caller:
            raise BadCallRequest("a simulated phone needs a number")
        try:
            action = CallAction(str(data.get("action") or ""))
        except ValueError:
            raise BadCallRequest("action must be start, press, say or hangup") from None
        if action is CallAction.START:
            call_sid = new_call_sid()
        elif not _CALL_SID.match(call_sid):
            raise BadCallRequest("which call? (call_sid)")
        if action is not CallAction.HANGUP:
            url, params = _step(app, action, data, caller, call_sid)
    except BadCallRequest as exc:
        return jsonify(error=str(exc)), 400
    duration = _duration(data)
    answer: dict[str, Any] = {"call_sid": call_sid, "prompts": [], "gather": None}
    answer.update(redirect=None, hangup=False, ended=False, status_callback=None)
    if action is CallAction.HANGUP:
        callback = status_callback(app, caller, call_sid, duration)
        answer.update(status=callback, ended=True, status_callback=callback)
        return jsonify(answer)

    try:
        status, twiml = deliver_call(app, url, params)
    except TooManyRedirects:
        status, twiml = 508, {}
    except (ET.ParseError, ValueError):
        status, twiml = 502, {}  # not TwiML: Twilio says "an application error" and hangs up
    answer.update(twiml, status=status)
    answer["prompts"] = _shown_prompts(app, answer["prompts"])
    # With nothing left to wait for (a <Hangup>, an error, or the end of the document), Twilio
    # hangs up and sends the status callback.
    if status != 200 or answer["gather"] is None:
        answer["ended"] = True
        answer["status_callback"] = status_callback(app, caller, call_sid, duration)
    return jsonify(answer), (200 if status == 200 else 502)


@bp.get("/api/audio")
def api_audio():
    """A recording the bot <Play>s, fetched from its voice audio route for the page's player
    (the page cannot sign a request, and PUBLIC_BASE_URL may not be reachable from here)."""
    app = current_app._get_current_object()
    url = str(request.args.get("url") or "")
    if not is_voice_url(app, url, VOICE_AUDIO_PATH):
        return jsonify(error="not one of the bot's recordings"), 400
    status, body, mimetype = signed_request(app, url, {}, method="GET")
    if status != 200:
        return jsonify(error=f"the bot answered {status}"), 404
    return Response(body, mimetype=mimetype)
