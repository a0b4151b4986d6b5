"""Pseudonyms: the only identifier a respondent has anywhere at rest.

A pseudonym is `v1:` + hex HMAC-SHA256 of the E.164 number under PSEUDONYM_KEY. A plain hash
would not do: there are few enough phone numbers to hash them all. The prefix names the key
version so a rotated key can coexist with the old one for a while.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_CHANNEL_PREFIX = re.compile(r"^[a-z]+:")  # "whatsapp:+1305..." -> "+1305..."
_NOT_DIGITS = re.compile(r"\D")


def e164(number: str) -> str:
    """Twilio's From value reduced to E.164 ('+' and digits), for a stable pseudonym."""
    number = _CHANNEL_PREFIX.sub("", number.strip().lower())
    digits = _NOT_DIGITS.sub("", number)
    return f"+{digits}" if digits else number


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
