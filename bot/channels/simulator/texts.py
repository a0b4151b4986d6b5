"""A simulated text: the form Twilio posts, and what the phone sees come back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import Flask

from bot.channels.simulator.signing import (
    SIMULATED_ACCOUNT,
    SIMULATED_BOT_NUMBER,
    signed_request,
    webhook_base,
)
from bot.channels.simulator.twiml import parse_twiml
from bot.channels.twilio_form import replyable
from bot.core.engine import EventType
from bot.infra.privacy import pseudonym_for
from bot.records.quick_replies import QuickReply, ends_with_buttons
from bot.records.sessions import message_applied


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


# What a simulated WhatsApp message carries as the person's chosen name: made up, and never
# read by the bot (the WhatsApp privacy rule: no ProfileName in a log or in Redis).
SIMULATED_PROFILE_NAME = "Simulated Person"
WHATSAPP_PREFIX = "whatsapp:"


def whatsapp_params(
    number: str, body: str, *, media: bool = False, button: tuple[str, str] | None = None
) -> dict[str, str]:
    """The form Twilio posts for one inbound WhatsApp message from the phone `number` (E.164):
    typed text, a picture, or a tapped quick-reply `button` (option id, title), whose title
    Twilio also sends as Body."""
    sid = ("MM" if media else "SM") + uuid.uuid4().hex
    params = {
        "SmsMessageSid": sid,
        "NumMedia": "1" if media else "0",
        "ProfileName": SIMULATED_PROFILE_NAME,
        "MessageType": "image" if media else ("button" if button else "text"),
        "SmsSid": sid,
        "WaId": "".join(c for c in number if c.isdigit()),
        "SmsStatus": "received",
        "Body": button[1] if button else body,
        "To": WHATSAPP_PREFIX + SIMULATED_BOT_NUMBER,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": SIMULATED_ACCOUNT,
        "From": WHATSAPP_PREFIX + number,
        "ApiVersion": "2010-04-01",
    }
    if media:
        params["MediaContentType0"] = "image/jpeg"
        params["MediaUrl0"] = "https://api.twilio.com/simulated-media"
    if button:  # a tap replies to the bot's message that showed the button
        params["ButtonPayload"], params["ButtonText"] = button
        params["OriginalRepliedMessageSender"] = params["To"]
        params["OriginalRepliedMessageSid"] = "SM" + uuid.uuid4().hex
    return params


@dataclass(frozen=True)
class Delivery:
    """What one simulated text got: the webhook's HTTP status, the bot's replies, and what the
    conversation decided (the engine's events; whether the number had opted out)."""

    status: int
    replies: list[str]
    events: tuple[EventType, ...] = ()
    was_opted_out: bool = False
    replyable: bool = True
    # On WhatsApp: the quick-reply buttons (option id, title) the last reply shows.
    buttons: tuple[tuple[str, str], ...] = ()

    def notices(self) -> list[str]:
        """What a real phone would see that the bot does not send (Twilio's opt-out handling),
        or why the bot stayed silent."""
        if not self.replyable:
            return [NOT_REPLYABLE_NOTICE]
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
NOT_REPLYABLE_NOTICE = (
    "Not answered: this is no phone number Twilio can text back (a short code or a sender "
    "name), so the bot replies nothing and keeps nothing. Use a full number, e.g. +1 305 555 0100."
)
IGNORED_NOTICE = (
    "Ignored: this number is opted out (STOP), so the bot does not answer. "
    "Text START to opt back in."
)


def deliver(
    app: Flask,
    sender: str,
    body: str,
    *,
    media: bool = False,
    whatsapp: bool = False,
    button: tuple[str, str] | None = None,
) -> Delivery:
    """Send one simulated text (or WhatsApp message, or button tap) through the signed
    webhook; returns what it got."""
    if whatsapp:
        params = whatsapp_params(sender, body, media=media, button=button)
    else:
        params = twilio_params(sender, body, media=media)
    applied: list[tuple[tuple[EventType, ...], bool, QuickReply | None]] = []

    def listen(_pseudonym: str, *, events, opted_out, step, questionnaire) -> None:  # noqa: ANN001
        found = ends_with_buttons(step, questionnaire) if whatsapp else None
        applied.append((events, opted_out, found))

    # The webhook's view of the text (its events) comes from the conversation itself, in this
    # thread: the test client runs the webhook here, and only this number's steps are heard.
    settings = app.extensions["surveybot"].settings
    with message_applied.connected_to(listen, sender=pseudonym_for(settings, sender)):
        status, data, _mimetype = signed_request(app, webhook_base(app) + "/twilio/sms", params)
    if status != 200:
        return Delivery(status, [])
    if not replyable(params["From"]):
        return Delivery(200, parse_twiml(data), replyable=False)
    events = tuple(e for step_events, _, _ in applied for e in step_events)
    replies = parse_twiml(data)
    buttons: tuple[tuple[str, str], ...] = ()
    found = applied[-1][2] if applied else None
    if found is not None and replies:
        # What WhatsApp shows once `surveybot whatsapp buttons sync` made the content: the
        # question's text with its buttons, instead of the numbered text sent without one.
        replies[-1], buttons = found.body, found.buttons
    return Delivery(200, replies, events, any(out for _, out, _ in applied), buttons=buttons)
