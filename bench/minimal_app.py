"""The baseline for bench/webhook.py: a Flask endpoint that answers fixed TwiML.

Served by gunicorn with exactly the settings the real app gets, it measures what the server,
Flask and the load generator cost on their own, so the benchmark can report the bot's
throughput as a ratio of it.
"""

from __future__ import annotations

from flask import Flask, Response

FIXED_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks</Message></Response>'

app = Flask(__name__)


@app.post("/twilio/sms")
def inbound_sms() -> Response:
    """Answer any POST with the same one-message TwiML."""
    return Response(FIXED_TWIML, mimetype="text/xml")
