"""Invitations over WhatsApp: an approved template per language, sent by the send job.

A message the business starts on WhatsApp must be a template Meta approved; Twilio sends one
as `messages.create` with `ContentSid` (the template, "HX...") and `ContentVariables` (a JSON
string filling its placeholders), no Body. The bot's invitation templates have one variable,
{{1}}: the wave's start keyword in the invitation's language. A template is not free-form text,
so it needs no 24-hour window (bot/infra/whatsapp_window.py): the person has written nothing yet.

Everything else is the texts' (bot/outreach/sending.py): the claim per person and wave, the
recipient's window, the daily caps, the opt-out check by pseudonym (one number has one
pseudonym on every channel, so a STOP by text holds on WhatsApp), the number sealed in the job.
Only the pace is WhatsApp's own (WHATSAPP_RATE_PER_SECOND, its own limiter key).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.infra.config import Settings
from bot.infra.outbound import twilio_client
from bot.infra.whatsapp_window import WHATSAPP_PREFIX
from bot.outreach.invitations import InvitationError

TEMPLATE_SETTINGS = {
    "en": "WHATSAPP_INVITE_CONTENT_SID_EN",
    "es": "WHATSAPP_INVITE_CONTENT_SID_ES",
    "ht": "WHATSAPP_INVITE_CONTENT_SID_HT",
}


def whatsapp_address(number: str) -> str:
    """A WhatsApp address as Twilio writes it ("whatsapp:+1..."), from an E.164 number or one."""
    number = number.strip()
    return number if number.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + number


def _sender(settings: Settings) -> dict[str, str]:
    """Twilio's sender fields: WHATSAPP_FROM, else the Messaging Service (its sender pool)."""
    if settings.WHATSAPP_FROM:
        return {"from_": whatsapp_address(settings.WHATSAPP_FROM)}
    if settings.TWILIO_MESSAGING_SERVICE_SID:
        return {"messaging_service_sid": settings.TWILIO_MESSAGING_SERVICE_SID}
    return {}


def invitation_template(settings: Settings, language: str) -> str:
    """The approved template (ContentSid) of the invitation in `language`, or InvitationError
    naming the setting to fill."""
    name = TEMPLATE_SETTINGS.get(language)
    sid = getattr(settings, name, "").strip() if name else ""
    if not sid:
        setting = name or f"a template setting for {language!r}"
        raise InvitationError(
            f"no WhatsApp template for invitations in {language!r}: set {setting} to the "
            "approved template's Content SID (README: WhatsApp)"
        )
    return sid


def check_whatsapp(settings: Settings, language: str) -> str:
    """Refuse WhatsApp invitations this installation cannot send (before anything is queued);
    returns the language's template."""
    template = invitation_template(settings, language)
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and _sender(settings)):
        raise InvitationError(
            "WhatsApp invitations need Twilio credentials and WHATSAPP_FROM (or a Messaging "
            "Service holding the WhatsApp sender) to send from"
        )
    if settings.WHATSAPP_RATE_PER_SECOND <= 0:
        raise InvitationError("WHATSAPP_RATE_PER_SECOND must be positive to send invitations")
    return template


def template_body(content_sid: str, keyword: str) -> str:
    """What a WhatsApp send job carries as its text: the template and its variables."""
    return json.dumps({"content_sid": content_sid, "variables": {"1": keyword}})


def whatsapp_inviter(settings: Settings, *, timeout: float | None = None) -> Callable:
    """A function sending one invitation template to an E.164 number on WhatsApp (with a
    status callback) and returning the MessageSid; the client is built once."""
    client = twilio_client(settings)
    if timeout is not None:
        client.http_client.timeout = timeout
    messages = client.messages
    sender = _sender(settings)
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    callback = f"{base}/twilio/sms/status" if base else None

    def send(number: str, body: str) -> str:
        template = json.loads(body)
        return messages.create(
            to=whatsapp_address(number),
            content_sid=template["content_sid"],
            content_variables=json.dumps(template["variables"], ensure_ascii=False),
            status_callback=callback,
            **sender,
        ).sid

    return send
