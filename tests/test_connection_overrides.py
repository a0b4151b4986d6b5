"""Twilio's webhook connection overrides on a call's next steps.

The README has organizers configure the call webhook as `.../twilio/voice#rc=5&rp=5xx,ct,rt`, so
Twilio retries a request the bot could not take (503 while Redis restarts). The URLs of a call's
next steps are the bot's own (each <Gather>'s action): it adds the same fragment to them
(TWILIO_CONNECTION_OVERRIDES), so a keypress that arrives during a restart is retried too. A
request never carries its URL's fragment and Twilio does not document whether the URL it signs
keeps it: a signature over the URL with or without the configured fragment is accepted, and
nothing else.
"""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from bot import create_app
from bot.infra.defaults import TWILIO_CONNECTION_OVERRIDES
from tests.voice_utils import Call

CALLER = "+13055550188"


def test_each_next_step_of_a_call_carries_the_overrides(client):
    call = Call(client, CALLER)
    turn = call.start()
    assert TWILIO_CONNECTION_OVERRIDES == "rc=5&rp=5xx,ct,rt"
    assert turn.gather["action"].endswith("/twilio/voice/gather?n=1#rc=5&rp=5xx,ct,rt")
    turn = call.press("1")
    assert turn.gather["action"].endswith("?n=2#rc=5&rp=5xx,ct,rt")


@pytest.mark.parametrize(
    ("signed_fragment", "status"),
    [("", 200), ("#rc=5&rp=5xx,ct,rt", 200), ("#rc=9", 403), ("#", 403)],
)
def test_a_step_signed_with_or_without_the_fragment_is_taken(client, signed_fragment, status):
    call = Call(client, CALLER)
    call.start()
    action = call.turn.gather["action"]
    url = action.split("#", 1)[0] + signed_fragment
    params = call.params("in-progress", Digits="1", FinishedOnKey="")
    token = client.application.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    signature = RequestValidator(token).compute_signature(url, params)
    assert call.post(action, params, signature=signature).status_code == status


def test_without_overrides_the_urls_are_plain(redis, settings_overrides):
    app = create_app({**settings_overrides, "TWILIO_CONNECTION_OVERRIDES": ""})
    call = Call(app.test_client(), CALLER)
    assert call.start().gather["action"].endswith("/twilio/voice/gather?n=1")
    # ...and a signature over the URL with the README's fragment is not accepted then.
    params = call.params("in-progress", Digits="1", FinishedOnKey="")
    token = app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    url = call.turn.gather["action"] + "#" + TWILIO_CONNECTION_OVERRIDES
    signature = RequestValidator(token).compute_signature(url, params)
    assert call.post(call.turn.gather["action"], params, signature=signature).status_code == 403
