"""Redis or the database down: the dashboard says so with a 503 page in its own style, Twilio
gets a plain 5xx (no HTML), the operator gets one log line, never a traceback of the request.

Redis really goes down: each test starts a redis-server of its own and stops it. The database
"goes down" by pointing DATABASE_URL at a port where nothing listens.
"""

from __future__ import annotations

import logging

import pytest
from markupsafe import escape

from bot import create_app
from bot.web.outages import MESSAGES, Service
from tests.dashboard_utils import PASSWORD, csrf_token, sign_in, signed_in
from tests.redis_server import closed_port, redis_server
from tests.utils import replies_of, sms
from tests.voice_utils import Call

PHONE = "+13055550188"
EMAIL = "organizer@example.org"


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own (stop it to take Redis down)."""
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def app_on_own_redis(own_redis, db, settings_overrides):
    """The app on that Redis (and the test database)."""
    application = create_app({**settings_overrides, "REDIS_URL": own_redis.url})
    yield application
    application.extensions["surveybot"].redis.close()


@pytest.fixture
def database_down_url() -> str:
    """A PostgreSQL URL where nothing answers."""
    return f"postgresql://postgres@127.0.0.1:{closed_port()}/surveybot"


def assert_outage_page(response, service: Service) -> None:  # noqa: ANN001
    """A 503 page in the dashboard's style, saying what is down and what to check."""
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html
    assert response.mimetype == "text/html"
    assert str(escape(MESSAGES[service])) in html
    assert 'href="/static/dashboard.css"' in html
    assert "<h1>Service Unavailable</h1>" in html
    assert "Internal Server Error" not in html
    assert response.headers["Retry-After"].isdigit()
    assert "Content-Security-Policy" in response.headers  # the dashboard's own headers


def assert_one_line_each(caplog, requests: int, service: Service) -> None:  # noqa: ANN001
    """One log line per failed request, naming the service; no traceback, no request data."""
    lines = [r for r in caplog.records if r.name == "surveybot.outages"]
    assert len(lines) == requests
    assert all(r.levelno == logging.ERROR for r in lines)
    assert all(r.getMessage().startswith(f"{service.value} unreachable (") for r in lines)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    for secret in (PHONE, PHONE[1:], EMAIL, PASSWORD):
        assert secret not in caplog.text


def test_redis_down_dashboard_and_sign_in_are_a_clear_503(app_on_own_redis, own_redis, caplog):
    app = app_on_own_redis
    organizer = signed_in(app, "organizer", EMAIL)  # the session lives in this Redis
    assert organizer.get("/dashboard/").status_code == 200
    anonymous = app.test_client()
    assert anonymous.get("/dashboard/sign-in").status_code == 200
    csrf_token(anonymous)  # the form's token, taken while Redis was up

    own_redis.stop()
    caplog.set_level(logging.INFO)
    assert_outage_page(organizer.get("/dashboard/"), Service.REDIS)
    assert_outage_page(organizer.get("/dashboard/waves/summer"), Service.REDIS)
    # The sign-in form says so before anyone types a password, and after, too.
    assert_outage_page(anonymous.get("/dashboard/sign-in"), Service.REDIS)
    assert_outage_page(sign_in(anonymous, EMAIL), Service.REDIS)
    assert_one_line_each(caplog, 4, Service.REDIS)


def test_redis_down_twilio_gets_a_plain_5xx(app_on_own_redis, own_redis, caplog):
    app = app_on_own_redis
    client = app.test_client()
    assert replies_of(sms(client, PHONE, "hola"))  # answered while Redis is up

    own_redis.stop()
    caplog.set_level(logging.INFO)
    text = sms(client, PHONE, "1")
    call = Call(client, PHONE)
    base = app.extensions["surveybot"].settings.PUBLIC_BASE_URL
    call_start = call.post(f"{base}/twilio/voice", call.params("ringing"))
    for response in (text, call_start):
        body = response.get_data(as_text=True)
        assert 500 <= response.status_code < 600, body
        assert response.mimetype == "text/plain"
        assert "<" not in body and "html" not in body.lower()
    # The signature is still checked first: a forged request is refused as before.
    assert sms(client, PHONE, "1", signature="forged").status_code == 403
    assert_one_line_each(caplog, 2, Service.REDIS)


def test_redis_down_simulator_api_answers_json(app_on_own_redis, own_redis):
    client = app_on_own_redis.test_client()
    own_redis.stop()
    outbox = client.post("/simulator/api/outbox", json={"from": PHONE})
    assert outbox.status_code == 503
    assert outbox.get_json() == {"error": MESSAGES[Service.REDIS], "unreachable": "redis"}
    sent = client.post("/simulator/api/send", json={"from": PHONE, "body": "hola"})
    assert sent.status_code == 502
    assert sent.get_json()["status"] == 503  # what the webhook answered


def test_database_down_dashboard_is_a_clear_503_texts_still_answered(
    app, settings_overrides, database_down_url, caplog
):
    organizer = signed_in(app, "organizer", EMAIL)  # account and session made while it was up
    down = create_app({**settings_overrides, "DATABASE_URL": database_down_url})
    try:
        # The same browser (signed cookie, session in the same Redis) on the app whose
        # database is down.
        browser = down.test_client()
        browser.set_cookie("session", organizer.get_cookie("session").value)
        caplog.set_level(logging.INFO)
        assert_outage_page(browser.get("/dashboard/"), Service.DATABASE)
        assert_outage_page(down.test_client().get("/dashboard/sign-in"), Service.DATABASE)
        assert_one_line_each(caplog, 2, Service.DATABASE)
        # The request path of a text never needs the database.
        assert replies_of(sms(down.test_client(), PHONE, "SURVEY"))
    finally:
        down.extensions["surveybot"].redis.close()
