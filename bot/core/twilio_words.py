"""Twilio's own keyword lists, which every questionnaire understands even if its file forgets
them, so that the bot's opt-out state and Twilio's Advanced Opt-Out always agree."""

from __future__ import annotations

# Keywords every questionnaire understands even if its file forgets them: Twilio's default
# opt-out, opt-in and help words (its Advanced Opt-Out tutorial and its Proxy keyword page list
# the French ARRET forms among the opt-out words), so STOP always works.
TWILIO_STOP_WORDS = (
    "stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "optout", "revoke",
    "arret", "arrete", "arrett",
)  # fmt: skip
TWILIO_START_WORDS = ("start", "unstop")
TWILIO_HELP_WORDS = ("help", "info")
# Twilio's opt-in words that are also everyday answers: YES re-subscribes a number at Twilio,
# so the bot hears it as START only from someone who opted out (elsewhere it is consent).
TWILIO_RESUBSCRIBE_WORDS = ("yes",)
