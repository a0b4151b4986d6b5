"""The production front the README gives: nginx, with request buffering, in front of gunicorn.

Real processes: a redis-server, gunicorn with the Procfile's worker settings (two `gthread`
workers of eight threads) in production mode, and Debian's nginx running the README's own server
block (bench/slow_clients.py adapts only its port and upstream). 64 clients hold connections open
and trickle their bodies a byte a second, four times as many as gunicorn has threads: behind the
front, a signed text is still answered while every one of them is unfinished. The test asserts
outcomes and their order (answered while the slow bodies are still incomplete), never a duration;
bench/slow_clients.py prints the latencies, and what gunicorn alone does under the same load.
"""

from __future__ import annotations

import os
import secrets
import time

import pytest
from twilio.request_validator import RequestValidator

from bench import slow_clients as bench
from bench.services import start_redis, stop_process
from bench.webhook import app_environment, gunicorn_options, start_gunicorn
from bot.infra.sealing import generate_storage_keys

SLOW = 64


@pytest.fixture
def nginx():
    if not bench.nginx_available():
        if os.environ.get("CI"):
            pytest.fail("CI installs nginx (.ci/run): the front must be tested there")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")


def test_the_readme_front_is_a_whole_nginx_server_block():
    block = bench.readme_front_block()
    assert "proxy_request_buffering on;" in block
    assert "client_body_timeout" in block
    assert 'proxy_set_header X-Forwarded-Host "";' in block  # the client never names the host
    conf = bench.front_config(block, listen_port=8080, upstream_port=9000, prefix=_tmp())
    assert "listen 127.0.0.1:8080;" in conf and "server 127.0.0.1:9000;" in conf
    assert "443" not in conf


def _tmp():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="surveybot-front-"))


def test_behind_the_front_texts_are_answered_while_slow_clients_hold_connections(nginx, tmp_path):
    names = ("SECRET_KEY", "PSEUDONYM_KEY", "TWILIO_AUTH_TOKEN")
    secrets_ = {name: secrets.token_hex(24) for name in names}
    secrets_["STORAGE_PUBLIC_KEY"], secrets_["STORAGE_SECRET_KEY"] = generate_storage_keys()
    validator = RequestValidator(secrets_["TWILIO_AUTH_TOKEN"])
    redis_process, redis_url = start_redis(tmp_path)
    app = None
    try:
        env = {**app_environment(redis_url, tmp_path, secrets_), "TRUST_PROXY": "1"}
        app, app_port, log = start_gunicorn(
            "bot:create_app()", gunicorn_options(2, 8), env, tmp_path, "front"
        )
        with bench.nginx_front(app_port, tmp_path) as front_port:
            with bench.slow_clients(front_port, SLOW) as clients:
                _wait_until_trickling(clients)
                answers = [bench.post_text(front_port, validator, i) for i in range(20)]
                still_slow = clients.unfinished()
                sent_so_far = min(clients.sent)
        assert [status for status, _ in answers] == [200] * 20, log.read_text()
        assert all(b"<Message>" in body for _, body in answers)
        # Every slow body was still incomplete when the last text had been answered.
        assert still_slow == SLOW
        assert sent_so_far < bench.SLOW_BODY_BYTES
    finally:
        stop_process(app)
        stop_process(redis_process)


def _wait_until_trickling(clients) -> None:  # noqa: ANN001
    """Until every slow client has sent part of its body (they send a byte a second)."""
    deadline = time.monotonic() + 30
    while min(clients.sent) < 2:
        assert time.monotonic() < deadline, "the slow clients did not start sending"
        time.sleep(0.1)
