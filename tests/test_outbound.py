"""Outbound texts: Twilio's REST API when configured (faked at its HTTP boundary), else the
simulator's outbox."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from twilio.base.exceptions import TwilioRestException

from bot.infra.exceptions import ConfigError
from bot.infra.outbound import send_sms
from tests.fake_twilio import FakeTwilio

ACCOUNT = "AC" + "1" * 32


def twilio_settings(app, fake, **changes):
    settings = app.extensions["surveybot"].settings
    values = {
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_API_BASE_URL": fake.url,
        "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32,
        **changes,
    }
    return replace(settings, **values)


def test_sends_through_the_messaging_service_with_a_status_callback(app, redis):
    with FakeTwilio() as fake:
        settings = twilio_settings(app, fake)
        sid = send_sms(settings, redis, "+13055550123", "Hola")
    [request] = fake.requests
    assert sid.startswith("SM")
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request["form"] == {
        "To": "+13055550123",
        "Body": "Hola",
        "MessagingServiceSid": "MG" + "2" * 32,
        "StatusCallback": "https://bot.example.org/twilio/sms/status",
    }
    user, _, token = base64.b64decode(request["auth"].split()[1]).decode().partition(":")
    assert (user, token) == (ACCOUNT, settings.TWILIO_AUTH_TOKEN)
    assert redis.keys("sb:sim:*") == []


def test_sends_from_a_number_when_there_is_no_messaging_service(app, redis):
    with FakeTwilio() as fake:
        settings = twilio_settings(
            app, fake, TWILIO_MESSAGING_SERVICE_SID="", TWILIO_FROM_NUMBER="+15005550006"
        )
        send_sms(settings, redis, "+13055550123", "Hi")
    assert fake.requests[0]["form"]["From"] == "+15005550006"
    assert "MessagingServiceSid" not in fake.requests[0]["form"]


def test_twilio_errors_reach_the_caller_with_their_code(app, redis):
    with FakeTwilio() as fake:
        fake.error = (400, 21610, "Attempt to send to unsubscribed recipient")
        with pytest.raises(TwilioRestException) as caught:
            send_sms(twilio_settings(app, fake), redis, "+13055550123", "Hi")
    assert caught.value.code == 21610


def test_without_twilio_texts_go_to_the_simulator(app, client, redis):
    settings = app.extensions["surveybot"].settings
    assert not settings.twilio_configured
    assert send_sms(settings, redis, "+13055550123", "The summer survey is open") is None
    outbox = client.post("/simulator/api/outbox", json={"from": "+13055550123"}).get_json()
    assert outbox == {"messages": ["The summer survey is open"]}
    again = client.post("/simulator/api/outbox", json={"from": "+13055550123"}).get_json()
    assert again == {"messages": []}
    assert not any(b"3055550123" in key for key in redis.keys("*"))


def test_without_twilio_or_simulator_sending_is_a_clear_error(app, redis):
    settings = replace(app.extensions["surveybot"].settings, SIMULATOR_ENABLED=False)
    with pytest.raises(ConfigError, match="simulator"):
        send_sms(settings, redis, "+13055550123", "Hi")
