"""Pseudonyms: the only identifier a respondent has anywhere at rest.

A pseudonym is `v1:` + hex HMAC-SHA256 of the E.164 number under PSEUDONYM_KEY. A plain hash
would not do: there are few enough phone numbers to hash them all. The prefix names the key
version so a rotated key can coexist with the old one for a while.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_CHANNEL_PREFIX = re.compile(r"^([A-Za-z]+):")  # "whatsapp:+1305..." -> "+1305..."
# A phone number as Twilio or a person writes it: digits, with an optional "+" and separators.
_PHONE_NUMBER = re.compile(r"\+?[0-9][0-9 ().\-]*")
_NOT_DIGITS = re.compile(r"[^0-9]")


def e164(number: str) -> str:
    """Twilio's From value as the identity a pseudonym is made of.

    A phone number is reduced to E.164 ('+' and digits) whatever its channel, so one number
    has one pseudonym by text, by phone and on WhatsApp. Any other sender id (a WhatsApp user
    id, an alphanumeric sender) is kept whole, channel included: reducing it to its digits
    would give two people one pseudonym, and one person's conversation to another.
    """
    number = number.strip()
    prefix = _CHANNEL_PREFIX.match(number)
    bare = number[prefix.end() :] if prefix else number
    if _PHONE_NUMBER.fullmatch(bare):
        return "+" + _NOT_DIGITS.sub("", bare)
    if not bare:
        return ""
    return f"{prefix.group(1).lower()}:{bare}" if prefix else bare


def pseudonym(key: str, number: str, *, version: str = "v1") -> str:
    """Keyed pseudonym of a phone number."""
    digest = hmac.new(key.encode(), e164(number).encode(), hashlib.sha256).hexdigest()
    return f"{version}:{digest}"


def pseudonym_for(settings, number: str) -> str:  # noqa: ANN001 - bot.infra.config.Settings
    """The pseudonym of a number under this installation's key and key version."""
    return pseudonym(settings.PSEUDONYM_KEY, number, version=settings.PSEUDONYM_KEY_VERSION)


# A respondent who can never be recognised again (a call with a withheld caller ID) gets a
# pseudonym of the call itself, under this prefix: nothing is worth remembering about it.
ONE_CALL_PREFIX = "call:"


def one_call_pseudonym(key: str, call_sid: str) -> str:
    """The pseudonym of one call whose caller withheld their number."""
    return ONE_CALL_PREFIX + message_digest(key, "withheld-call:" + call_sid)


def message_digest(key: str, message_sid: str) -> str:
    """Keyed digest of a Twilio MessageSid, so dedup never stores the SID itself."""
    mac = hmac.new(key.encode(), b"message-sid:" + message_sid.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]
