"""WhatsApp's 24-hour window, per respondent: when free-form text may still go out to them.

WhatsApp lets a business send free-form text (what the bot sends) only within 24 hours of the
person's last message; past that, only an approved template, and Twilio answers a free-form
send with error 63016. Each inbound WhatsApp message opens (or renews) the window under the
person's pseudonym, as a key that expires on its own; any code that sends free-form text to a
WhatsApp address outside a reply to an inbound message (reminders, invitations) must call
`require_open` first. A reply in the webhook's TwiML answers a message just received, so it is
always inside the window.

The key ends on the hour before the 24 hours run out (never later than WhatsApp's window). Its
expiry in Redis's files dates the last message to about the hour; while the conversation lives,
the session key's own expiry beside it dates the last step more finely anyway.
"""

from __future__ import annotations

import datetime as dt

from redis import Redis
from redis.client import Pipeline

from bot.infra import clock, defaults, keys
from bot.infra.exceptions import OutsideWhatsAppWindow

WHATSAPP_PREFIX = "whatsapp:"
# Twilio's error for free-form text sent outside the window.
OUTSIDE_WINDOW_ERROR = "63016"


def is_whatsapp(address: str) -> bool:
    """Whether a Twilio address (a From or To value) is on WhatsApp."""
    return address.strip().lower().startswith(WHATSAPP_PREFIX)


def window_seconds(now: dt.datetime | None = None) -> int:
    """How long a window opened now stays open for the bot: until the hour boundary at or
    before 24 hours from now (between 23 and 24 hours)."""
    now = now or clock.now()
    closes = now + dt.timedelta(seconds=defaults.WHATSAPP_WINDOW_SECONDS)
    step = defaults.WHATSAPP_WINDOW_ROUNDING_SECONDS
    stamp = closes.timestamp()
    rounded = stamp - (stamp % step)
    return max(1, int(rounded - now.timestamp()))


def renew(redis: Redis | Pipeline, pseudonym: str) -> None:
    """The respondent just wrote on WhatsApp: free-form text may reach them for another day."""
    redis.set(keys.whatsapp_window(pseudonym), "1", ex=window_seconds())


def is_open(redis: Redis, pseudonym: str) -> bool:
    """Whether free-form text may still go out to this respondent on WhatsApp."""
    return bool(redis.exists(keys.whatsapp_window(pseudonym)))


def require_open(redis: Redis, pseudonym: str) -> None:
    """Raise OutsideWhatsAppWindow unless free-form text may go out to this respondent."""
    if not is_open(redis, pseudonym):
        raise OutsideWhatsAppWindow("outside WhatsApp's 24-hour window: only a template may go")


def close(redis: Redis | Pipeline, pseudonym: str) -> None:
    """Twilio says the window is closed (error 63016): believe it over our own record."""
    redis.delete(keys.whatsapp_window(pseudonym))
