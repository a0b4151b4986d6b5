"""The baseline for bench/webhook.py: a Flask endpoint that answers fixed TwiML.

Served by gunicorn with exactly the settings the real app gets, it measures what the server,
Flask and the load generator cost on their own, so the benchmark can report the bot's
throughput as a ratio of it.
"""

from __future__ import annotations

from flask import Flask, Response

FIXED_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks</Message></Response>'

# What the phone channel's routes answer: one <Gather> around one <Say>, about the size of the
# bot's own answers on a call (575 bytes on average over an English call of the default survey).
FIXED_VOICE_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Gather action="https://bench.surveybot.invalid/twilio/voice/gather?n=1" '
    'actionOnEmptyResult="true" input="dtmf" method="POST" numDigits="1" timeout="6">'
    '<Say language="en-US" voice="Polly.Joanna">How long have you lived in the United States? '
    "For less than 5 years, press 1. For 5 to 15 years, press 2. For more than 15 years, "
    "press 3. To skip this question, press 0. To go back, press 9. To hear it again, press "
    "star. Take your time: there are no wrong answers, and nothing you say is recorded.</Say>"
    "</Gather></Response>"
)

app = Flask(__name__)


@app.post("/twilio/sms")
def inbound_sms() -> Response:
    """Answer any POST with the same one-message TwiML."""
    return Response(FIXED_TWIML, mimetype="text/xml")


@app.post("/twilio/voice")
@app.post("/twilio/voice/gather")
def voice_step() -> Response:
    """Answer a call's start or any keys pressed with the same one-prompt TwiML."""
    return Response(FIXED_VOICE_TWIML, mimetype="text/xml")
