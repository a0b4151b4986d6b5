"""/simulator: a local phone that texts the bot through the real, signed webhook.

Only registered in development or when SIMULATOR_ENABLED is on. Each simulated text is built
and signed exactly as Twilio would, then handed to the app's own /twilio/sms view, so the
signature check, dedup and conversation code all run for real.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from twilio.request_validator import RequestValidator

from bot import keys
from bot.app import state
from bot.privacy import pseudonym

bp = Blueprint("simulator", __name__, url_prefix="/simulator")

SIMULATED_ACCOUNT = "AC" + "0" * 32
SIMULATED_BOT_NUMBER = "+15005550006"  # Twilio's magic test number, never a real phone
MAX_SIM_BODY = 2000


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


def deliver(app: Flask, sender: str, body: str, *, media: bool = False) -> tuple[int, list[str]]:
    """Send one simulated text through the signed webhook; returns (HTTP status, replies)."""
    settings = app.extensions["surveybot"].settings
    params = twilio_params(sender, body, media=media)
    url = settings.PUBLIC_BASE_URL.rstrip("/") + "/twilio/sms"
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)
    with app.test_client() as client:
        response = client.post(
            "/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
        )
    if response.status_code != 200:
        return response.status_code, []
    return 200, parse_twiml(response.data)


@bp.get("")
@bp.get("/")
def page() -> str:
    """The phone-like chat page."""
    return render_template("simulator.html")


@bp.post("/api/send")
def api_send():
    """Text the bot as a simulated phone: JSON {"from": "+1...", "body": "...", "media": false}."""
    data = request.get_json(silent=True) or {}
    sender = str(data.get("from") or "").strip()
    body = str(data.get("body") or "")[:MAX_SIM_BODY]
    if not sender:
        return jsonify(error="a simulated phone needs a number"), 400
    status, replies = deliver(
        current_app._get_current_object(), sender, body, media=bool(data.get("media"))
    )
    return jsonify(status=status, replies=replies), (200 if status == 200 else 502)


@bp.get("/api/outbox")
def api_outbox():
    """Messages the bot sent to a simulated phone on its own (not as a reply), oldest first."""
    sender = str(request.args.get("from") or "").strip()
    if not sender:
        return jsonify(error="which simulated phone?"), 400
    app_state = state()
    key = keys.simulator_outbox(pseudonym(app_state.settings.PSEUDONYM_KEY, sender))
    with app_state.redis.pipeline() as pipe:
        pipe.lrange(key, 0, -1)
        pipe.delete(key)
        raw, _ = pipe.execute()
    return jsonify(messages=[json.loads(item)["body"] for item in raw])
