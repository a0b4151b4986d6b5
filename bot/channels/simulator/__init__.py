"""/simulator: a local phone that texts or calls the bot through the real, signed webhooks.

Only registered in development or when SIMULATOR_ENABLED is on. Each simulated text is built
and signed exactly as Twilio would, then handed to the app's own /twilio/sms view, so the
signature check, dedup and conversation code all run for real. Calls work the same way: each
step of a simulated call is the form Twilio posts to /twilio/voice (or to a <Gather>'s action
URL, or to the status callback), signed against the absolute URL as Twilio signs it, and the
TwiML answer is parsed into prompts to show, read aloud and answer on a keypad.

By concern: `signing` (requests signed as Twilio signs them), `twiml` (reading the answers),
`texts` and `calls` (what Twilio posts for a text, a WhatsApp message or each step of a
call), `views` and `call_views` (the blueprint's routes).
"""

from __future__ import annotations

from bot.channels.simulator.call_views import BadCallRequest, api_audio, api_call
from bot.channels.simulator.calls import (
    INPUT_PARAMS,
    MAX_REDIRECTS,
    SIMULATED_CONFIDENCE,
    VOICE_AUDIO_PATH,
    VOICE_PATH,
    VOICE_STATUS_PATH,
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
from bot.channels.simulator.signing import SIMULATED_ACCOUNT, SIMULATED_BOT_NUMBER, signed_request
from bot.channels.simulator.texts import (
    IGNORED_NOTICE,
    OPTED_IN_NOTICE,
    OPTED_OUT_NOTICE,
    SIMULATED_PROFILE_NAME,
    Delivery,
    deliver,
    twilio_params,
    whatsapp_params,
)
from bot.channels.simulator.twiml import parse_twiml, parse_voice_twiml
from bot.channels.simulator.views import CSP, MAX_SIM_BODY, api_outbox, api_send, bp, page

__all__ = [
    "CSP",
    "IGNORED_NOTICE",
    "INPUT_PARAMS",
    "MAX_REDIRECTS",
    "MAX_SIM_BODY",
    "OPTED_IN_NOTICE",
    "OPTED_OUT_NOTICE",
    "SIMULATED_ACCOUNT",
    "SIMULATED_BOT_NUMBER",
    "SIMULATED_CONFIDENCE",
    "SIMULATED_PROFILE_NAME",
    "VOICE_AUDIO_PATH",
    "VOICE_PATH",
    "VOICE_STATUS_PATH",
    "BadCallRequest",
    "CallAction",
    "CallStatus",
    "Delivery",
    "TooManyRedirects",
    "api_audio",
    "api_call",
    "api_outbox",
    "api_send",
    "bp",
    "call_params",
    "deliver",
    "deliver_call",
    "is_voice_url",
    "new_call_sid",
    "page",
    "parse_twiml",
    "parse_voice_twiml",
    "recording_name",
    "signed_request",
    "status_callback",
    "twilio_params",
    "whatsapp_params",
]
