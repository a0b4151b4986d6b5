"""WhatsApp through Twilio: the messaging webhook's form, read for what WhatsApp adds to it.

Twilio posts a WhatsApp message to the same webhook as a text (/twilio/sms), with
`whatsapp:`-prefixed addresses, so it runs the same conversation: one number has one pseudonym
by text, by phone and on WhatsApp (bot/infra/privacy.py). WhatsApp adds fields of its own:

- `WaId` and `ProfileName` (the person's WhatsApp id and chosen name): identifiers, never read
  here, so never logged, kept, enqueued or passed on; the pseudonym comes from `From` alone;
- `MessageType` (`text`, `button`, `interactive`, `image`, `audio`, `sticker`, `location` ...),
  `NumMedia` and `MediaContentType0`/`MediaUrl0`: a voice note, picture or sticker is never
  fetched; the person is told, in their language, that the survey takes typed answers, and
  asked the question again;
- `ButtonPayload`/`ButtonText` (a tapped quick reply): a payload that names an option id of the
  pending question answers it (bot/core/engine/buttons.py); otherwise the button's text, which
  Twilio also sends as `Body`, is read like typed text;
- `Latitude`/`Longitude`/`Address`/`Label` (a shared location) and shared contacts: not typed
  answers, never read;
- `Forwarded`, `FrequentlyForwarded`, `Referral*` (a click-to-WhatsApp ad),
  `OriginalRepliedMessageSid`: not needed, ignored.

Each WhatsApp message also renews the person's 24-hour window (bot/infra/whatsapp_window.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis
from werkzeug.datastructures import MultiDict

from bot.infra import whatsapp_window
from bot.infra.privacy import pseudonym_for

# Message types whose Body (if any) is what the person typed or the button they tapped showed.
TYPED_TYPES = frozenset({"text", "button", "interactive"})
# Message types that share something other than words (a place, a contact card): their Body,
# if Twilio sends one, was not typed as an answer and is never read.
SHARED_TYPES = frozenset({"location", "contacts"})


@dataclass(frozen=True)
class Message:
    """What the conversation takes from one inbound message, by text or on WhatsApp."""

    text: str
    has_media: bool  # media, or anything else that is not words: answered with "text only"
    choice: str | None = None  # a tapped button's payload
    on_whatsapp: bool = False


def read_message(form: MultiDict[str, str]) -> Message:
    """The parts of a messaging webhook's form the conversation reads (never WaId or
    ProfileName); `NumMedia` is ASCII digits or absent (bot/channels/twilio_form.py)."""
    on_whatsapp = whatsapp_window.is_whatsapp(form.get("From", ""))
    num_media = int(form.get("NumMedia") or 0)
    text = form.get("Body", "")
    if not on_whatsapp:
        return Message(text=text, has_media=num_media > 0)
    kind = (form.get("MessageType") or "").strip().lower()
    if kind in SHARED_TYPES:
        text = ""
    not_typed = bool(kind) and kind not in TYPED_TYPES
    choice = (form.get("ButtonPayload") or "").strip() or None
    return Message(text=text, has_media=num_media > 0 or not_typed, choice=choice, on_whatsapp=True)


def note_status(settings, redis: Redis, *, to: str, error_code: str) -> None:  # noqa: ANN001
    """A status callback's error for a WhatsApp message: 63016 (free-form text outside the
    24-hour window) closes our record of the window, so nothing else free-form is tried until
    the person writes again. Counted with every error in the delivery counters; never retried."""
    if error_code == whatsapp_window.OUTSIDE_WINDOW_ERROR and whatsapp_window.is_whatsapp(to):
        whatsapp_window.close(redis, pseudonym_for(settings, to))
