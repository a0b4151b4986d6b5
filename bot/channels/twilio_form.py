"""The shape of what Twilio posts: a signed form is applied only if Twilio could have sent it.

Twilio's signature covers the URL followed by every parameter name and value, sorted and joined
with no separator, so the same signed string can be cut into other names and values: moving
"NumMedia0" into the end of MessageSid's value keeps the signature valid and makes a new
MessageSid, which dedup would take for a new message and apply to the next question. Every SID
Twilio sends has a fixed shape (two letters and 32 hex digits) and its parameter names are
capitalised alphanumerics, each sent once, so a re-cut form always breaks one of these rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum

from werkzeug.datastructures import MultiDict

# Shapes of the values Twilio sends, matched whole (ASCII only: no `\d`).
MESSAGE_SID = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
PARAM_NAME = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")
COUNT = re.compile(r"[0-9]{1,3}")
# A sender Twilio can text back: a phone number in E.164 ("+" and 7 to 15 digits; the shortest
# numbers in service, e.g. Saint Helena's, have 7), optionally behind a channel prefix
# ("whatsapp:+1...") and with the spaces and dashes people type in the simulator. Short codes
# ("12345", 3 to 6 digits) and alphanumeric sender IDs ("MYBANK") are not: Twilio refuses to
# send to them (errors 21265 and 21612).
_PHONE_SENDER = re.compile(r"(?:[a-z]+:)?\+[0-9 ().\-]+")
_E164_DIGITS = re.compile(r"[1-9][0-9]{6,14}")


# A WhatsApp sender known by a user id instead of a number ("whatsapp:US.1349..."): Twilio
# replies to it as to a number.
_WHATSAPP_USER_ID = re.compile(r"whatsapp:[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def replyable(sender: str) -> bool:
    """Whether Twilio can deliver a reply to this `From`."""
    text = sender.strip()
    if _WHATSAPP_USER_ID.fullmatch(text):
        return True
    if not _PHONE_SENDER.fullmatch(text):
        return False
    return bool(_E164_DIGITS.fullmatch(re.sub(r"[^0-9]", "", text)))


# Advanced Opt-Out's OptOutType is STOP, START or HELP; letters only, so no re-cut form can
# move a SID's digits into it (an unknown word is ignored by the webhook, not refused).
OPT_OUT_TYPE = re.compile(r"[A-Za-z]{1,16}")

# Which values must have which shape when present.
SHAPES: Mapping[str, re.Pattern[str]] = {
    "MessageSid": MESSAGE_SID,
    "SmsSid": MESSAGE_SID,
    "SmsMessageSid": MESSAGE_SID,
    "CallSid": CALL_SID,
    "AccountSid": ACCOUNT_SID,
    "NumMedia": COUNT,
    "NumSegments": COUNT,
    "OptOutType": OPT_OUT_TYPE,
    # WhatsApp's own (bot/channels/whatsapp.py); its free-text ones (ProfileName, WaId,
    # ButtonPayload ...) have no fixed shape and are accepted as they come.
    "ReferralNumMedia": COUNT,
    "OriginalRepliedMessageSid": MESSAGE_SID,
}
# Names that carry the same message SID: when several are present, they agree.
MESSAGE_SID_NAMES = ("MessageSid", "SmsSid", "SmsMessageSid")


class Hook(StrEnum):
    """The webhooks Twilio calls, by the parameters each always carries."""

    SMS = "sms"
    SMS_STATUS = "sms_status"
    CALL = "call"
    CALL_STATUS = "call_status"


REQUIRED: Mapping[Hook, Sequence[str]] = {
    Hook.SMS: ("AccountSid", "From", "MessageSid", "SmsSid"),
    Hook.SMS_STATUS: ("AccountSid",),
    Hook.CALL: ("AccountSid", "CallSid", "From"),
    Hook.CALL_STATUS: ("AccountSid", "CallSid"),
}


def malformed(form: MultiDict[str, str]) -> str | None:
    """Why a form is not one Twilio sends, judged on what it holds (signed or not), or None."""
    for name, values in form.lists():
        if not PARAM_NAME.fullmatch(name):
            return "a parameter name Twilio never sends"
        if len(values) > 1:
            return f"{name} given more than once"
        shape = SHAPES.get(name)
        if shape is not None and not shape.fullmatch(values[0]):
            return f"a malformed {name}"
    sids = {form[name] for name in MESSAGE_SID_NAMES if name in form}
    if len(sids) > 1:
        return "MessageSid and SmsSid disagree"
    return None


def missing(form: MultiDict[str, str], hook: Hook) -> str | None:
    """The first parameter `hook` always carries that `form` lacks, or None."""
    if hook is Hook.SMS_STATUS and not any(name in form for name in MESSAGE_SID_NAMES):
        return "MessageSid"
    return next((name for name in REQUIRED[hook] if name not in form), None)
