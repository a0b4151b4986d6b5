"""The /simulator call API: one step of a phone call per request, and its recordings."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, current_app, jsonify, request

from bot.channels.simulator.calls import (
    VOICE_AUDIO_PATH,
    VOICE_PATH,
    CallAction,
    CallStatus,
    TooManyRedirects,
    call_params,
    deliver_call,
    is_voice_url,
    new_call_sid,
    recording_name,
    status_callback,
)
from bot.channels.simulator.signing import signed_request, webhook_base
from bot.channels.simulator.views import bp

MAX_SIM_DIGITS = 64
MAX_SIM_SPEECH = 500
MAX_CALL_SECONDS = 4 * 3600
_CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
_KEYS = re.compile(r"^[0-9*#]*$")


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
        return webhook_base(app) + VOICE_PATH, call_params(
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


def _action_and_sid(data: dict[str, Any], caller: str) -> tuple[CallAction, str]:
    """What the caller does next, and the call it belongs to (a fresh CallSid to start one)."""
    if not caller:
        raise BadCallRequest("a simulated phone needs a number")
    try:
        action = CallAction(str(data.get("action") or ""))
    except ValueError:
        raise BadCallRequest("action must be start, press, say or hangup") from None
    if action is CallAction.START:
        return action, new_call_sid()
    call_sid = str(data.get("call_sid") or "")
    if not _CALL_SID.match(call_sid):
        raise BadCallRequest("which call? (call_sid)")
    return action, call_sid


def _deliver(app: Flask, url: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """`deliver_call`, with a redirect loop or an answer that is not TwiML as an HTTP status."""
    try:
        return deliver_call(app, url, params)
    except TooManyRedirects:
        return 508, {}
    except (ET.ParseError, ValueError):
        return 502, {}  # not TwiML: Twilio says "an application error" and hangs up


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
    try:
        action, call_sid = _action_and_sid(data, caller)
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

    status, twiml = _deliver(app, url, params)
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
