"""Behind reverse proxies: signatures and callback URLs come from PUBLIC_BASE_URL alone, and the
client's address is the one the configured number of proxies saw."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from bot import create_app
from bot.channels.simulator import twilio_params
from bot.infra.config import load_settings
from tests.dashboard_utils import PASSWORD, make_user, sign_in
from tests.voice_utils import Call

PHONE = "+13055550123"
PUBLIC = "https://survey.coalition.org"
PROXY = "10.0.0.2"  # the proxy's own address, as gunicorn sees it


@pytest.fixture
def proxied(redis, settings_overrides):
    """The app behind one trusted proxy, reached by Twilio at PUBLIC."""
    application = create_app({**settings_overrides, "TRUST_PROXY": "1", "PUBLIC_BASE_URL": PUBLIC})
    yield application
    application.extensions["surveybot"].redis.close()


def _signature(app, url: str, params: dict[str, str]) -> str:
    token = app.extensions["surveybot"].settings.TWILIO_AUTH_TOKEN
    return RequestValidator(token).compute_signature(url, params)


def test_the_number_of_proxies_is_a_setting():
    assert load_settings({"TRUST_PROXY": "2"}, env_file=None).TRUST_PROXY == 2
    assert load_settings({"TRUST_PROXY": "yes"}, env_file=None).TRUST_PROXY == 1
    assert load_settings({"TRUST_PROXY": "0"}, env_file=None).TRUST_PROXY == 0
    assert load_settings({}, env_file=None).TRUST_PROXY == 0


def test_behind_a_proxy_signatures_are_checked_against_public_base_url(proxied):
    client = proxied.test_client()
    params = twilio_params(PHONE, "hi")
    signature = _signature(proxied, f"{PUBLIC}/twilio/sms", params)
    # The proxy talks to gunicorn on an internal host: what Twilio signed is still accepted.
    internal = {"base_url": "http://127.0.0.1:8000", "environ_base": {"REMOTE_ADDR": PROXY}}
    headers = {"X-Twilio-Signature": signature, "X-Forwarded-Proto": "https"}
    assert client.post("/twilio/sms", data=params, headers=headers, **internal).status_code == 200


def test_a_forged_forwarded_host_with_its_own_signature_is_refused(proxied):
    # Whoever captured a request (or holds a signature for another URL) chooses X-Forwarded-Host
    # and signs for it: the bot still checks against PUBLIC_BASE_URL.
    client = proxied.test_client()
    params = twilio_params(PHONE, "hi")
    forged = _signature(proxied, "https://evil.example/twilio/sms", params)
    headers = {
        "X-Twilio-Signature": forged,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-For": "198.51.100.4",
    }
    env = {"environ_base": {"REMOTE_ADDR": PROXY}}
    assert client.post("/twilio/sms", data=params, headers=headers, **env).status_code == 403


def test_callback_urls_follow_public_base_url_not_the_forwarded_host(proxied):
    client = proxied.test_client()
    # Signed for PUBLIC (as Twilio does), sent with a forwarded host the client chose.
    call = Call(client, PHONE)
    url = f"{PUBLIC}/twilio/voice"
    params = call.params("ringing")
    headers = {
        "X-Twilio-Signature": _signature(proxied, url, params),
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
    }
    response = client.post("/twilio/voice", data=params, headers=headers)
    assert response.status_code == 200, response.data
    assert b"evil.example" not in response.data
    assert f"{PUBLIC}/twilio/voice/gather?n=1".encode() in response.data


def test_rotating_forwarded_for_does_not_reset_the_sign_in_throttle(proxied):
    from bot.dashboard.throttle import MAX_FAILURES_PER_ACCOUNT

    make_user(proxied, "v@example.org", "viewer")
    client = proxied.test_client()
    env = {"environ_base": {"REMOTE_ADDR": PROXY}}
    real_client = "203.0.113.9"  # what the proxy appends: the address it saw
    for i in range(MAX_FAILURES_PER_ACCOUNT + 5):
        # The client writes a new X-Forwarded-For each time; the proxy appends its own entry.
        headers = {"X-Forwarded-For": f"192.0.2.{i}, {real_client}"}
        response = sign_in(client, "v@example.org", "guess guess guess", headers=headers, **env)
        assert response.status_code == (401 if i < MAX_FAILURES_PER_ACCOUNT else 429)


def test_two_proxies_trust_two_entries_and_no_more(redis, settings_overrides):
    app = create_app({**settings_overrides, "TRUST_PROXY": "2", "PUBLIC_BASE_URL": PUBLIC})
    try:
        make_user(app, "v@example.org", "viewer")
        client = app.test_client()
        env = {"environ_base": {"REMOTE_ADDR": PROXY}}
        outer_proxy_saw = "203.0.113.9"
        for i in range(8):
            headers = {"X-Forwarded-For": f"192.0.2.{i}, {outer_proxy_saw}, 10.0.0.1"}
            response = sign_in(client, "v@example.org", "guess guess guess", headers=headers, **env)
            assert response.status_code == (401 if i < 5 else 429)
        # Another real client behind the same proxies is counted apart.
        headers = {"X-Forwarded-For": "198.51.100.7, 10.0.0.1"}
        response = sign_in(app.test_client(), "v@example.org", PASSWORD, headers=headers, **env)
        assert response.status_code == 429  # v's account waits for unfamiliar addresses...
        make_user(app, "w@example.org", "viewer")
        response = sign_in(app.test_client(), "w@example.org", PASSWORD, headers=headers, **env)
        assert response.status_code == 302  # ...but the address itself is not held back
    finally:
        app.extensions["surveybot"].redis.close()
