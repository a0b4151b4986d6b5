"""A simulated call: the forms Twilio posts for each step, and Twilio's <Redirect> loop."""

from __future__ import annotations

import uuid
from email.utils import formatdate
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask

from bot.channels.simulator.signing import (
    SIMULATED_ACCOUNT,
    SIMULATED_BOT_NUMBER,
    signed_request,
    webhook_base,
)
from bot.channels.simulator.twiml import parse_voice_twiml

VOICE_PATH = "/twilio/voice"
VOICE_STATUS_PATH = "/twilio/voice/status"
VOICE_AUDIO_PATH = "/twilio/voice/audio/"
MAX_REDIRECTS = 10  # Twilio follows <Redirect>s too, but a loop would hang the simulator
SIMULATED_CONFIDENCE = "0.92"  # what Twilio reports for speech it recognized well
# Keys of the Gather action's request that describe the caller's input (not sent on a redirect).
INPUT_PARAMS = ("Digits", "FinishedOnKey", "SpeechResult", "Confidence")


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
    status, _body, _mimetype = signed_request(app, webhook_base(app) + VOICE_STATUS_PATH, params)
    return status


def is_voice_url(app: Flask, url: str, prefix: str = VOICE_PATH) -> bool:
    """Whether `url` is one of this bot's own voice URLs (the simulator signs nothing else)."""
    base = webhook_base(app) + prefix
    if "#" in url or any(part in (".", "..") for part in urlsplit(url).path.split("/")):
        return False
    if prefix.endswith("/"):
        return url.startswith(base) and len(url) > len(base)
    return url == base or url.startswith((base + "/", base + "?"))


def recording_name(url: str) -> str:
    """A short name for a <Play>ed recording: its path under the voice audio route, if it is
    one of ours, else its last path segment; as the questionnaire names it (URLs carry it
    percent-encoded)."""
    path = unquote(urlsplit(url).path)
    _, marker, rest = path.partition(VOICE_AUDIO_PATH)
    return rest if marker and rest else path.rsplit("/", 1)[-1] or url
