"""The /simulator blueprint: the chat page, its security headers, texting and the outbox."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from bot.channels.simulator.texts import deliver
from bot.infra import keys
from bot.infra.privacy import pseudonym_for
from bot.web.state import state

bp = Blueprint("simulator", __name__, url_prefix="/simulator")

MAX_SIM_BODY = 2000
MAX_BUTTON_FIELD = 200  # a button's id or title (WhatsApp's are far shorter)
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
    """Text the bot as a simulated phone: JSON {"from": "+1...", "body": "...", "media": false,
    "whatsapp": false, "button": {"id": "...", "title": "..."}}. With "whatsapp" the message
    goes as Twilio posts a WhatsApp message; "button" (WhatsApp only) taps a quick reply.

    Answers {status, replies, events, notices, buttons}: the webhook's status, the bot's texts,
    the conversation's events ("opted_out", ...), lines to show beside them (what Twilio, not
    the bot, would tell the phone) and, on WhatsApp, the buttons ({id, title}) under the last
    text."""
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    sender = _simulated_number()
    body = str(data.get("body") or "")[:MAX_SIM_BODY]
    if not sender:
        return jsonify(error="a simulated phone needs a number"), 400
    whatsapp = bool(data.get("whatsapp"))
    button = _tapped(data.get("button"))
    if data.get("button") is not None and (button is None or not whatsapp):
        return jsonify(error='a button is {"id", "title"} strings, on WhatsApp only'), 400
    got = deliver(
        current_app._get_current_object(),
        sender,
        body,
        media=bool(data.get("media")),
        whatsapp=whatsapp,
        button=button,
    )
    answer = {
        "status": got.status,
        "replies": got.replies,
        "events": [str(event) for event in got.events],
        "notices": got.notices(),
        "buttons": [{"id": option, "title": title} for option, title in got.buttons],
    }
    return jsonify(answer), (200 if got.status == 200 else 502)


def _tapped(raw: object) -> tuple[str, str] | None:
    """A tapped button's (id, title) from the request, or None if it is not one."""
    if not isinstance(raw, dict):
        return None
    option, title = raw.get("id"), raw.get("title")
    if not isinstance(option, str) or not isinstance(title, str) or not option.strip():
        return None
    return option.strip()[:MAX_BUTTON_FIELD], title[:MAX_BUTTON_FIELD]


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
