"""Redis full or down while respondents text: a 503 that Twilio retries, the retry applied
exactly once; a Redis that would evict keys refused at start; no key name in any log line.

Each test runs a redis-server of its own: one with a small `maxmemory` under `noeviction`,
filled until it refuses writes (OOM), or a persistent one stopped and restarted from its files.
"""

from __future__ import annotations

import logging

import pytest
from redis import Redis
from redis.exceptions import OutOfMemoryError, ResponseError

from bot import create_app
from bot.infra import keys
from bot.infra.exceptions import ConfigError
from bot.infra.memory_policy import check_memory_policy
from bot.infra.privacy import pseudonym_for
from bot.records import inbox
from bot.web.outages import Service
from tests.redis_server import redis_server
from tests.utils import inbox_records, new_sid, replies_of, sms

PHONE = "+13055550142"
FILLER = "filler:{}"
FILLER_BYTES = 64 * 1024
FULL_MARGIN = 1024 * 1024  # more than any query buffer or reply a test makes


def full(server_url: str) -> int:
    """Write filler values until Redis refuses one for lack of memory; how many it took.

    A refused write's own arguments counted in the memory in use (its query buffer, freed a
    moment later), so once refused Redis soon drops under its limit again; the limit is then
    lowered to a margin under what the data holds, so that every write is refused until the
    filler goes, as when traffic keeps coming."""
    client = Redis.from_url(server_url)
    try:
        for n in range(10_000):
            try:
                client.set(FILLER.format(n), b"x" * FILLER_BYTES)
            except OutOfMemoryError:
                used = client.info("memory")["used_memory"]
                client.config_set("maxmemory", used - FULL_MARGIN)
                with pytest.raises(OutOfMemoryError):
                    client.set("probe", "x")
                return n
        pytest.fail("Redis never ran out of memory")
    finally:
        client.close()


def free(server_url: str, count: int) -> None:
    """Delete the filler: memory in use drops far below the limit."""
    client = Redis.from_url(server_url)
    try:
        client.delete(*(FILLER.format(n) for n in range(count)))
        client.set("probe", "x")  # writes are taken again
    finally:
        client.close()


@pytest.fixture
def small_redis(tmp_path):
    """A Redis with little memory that refuses writes when full, as production must run it."""
    extra = ("--maxmemory", "8mb", "--maxmemory-policy", "noeviction")
    with redis_server(tmp_path, extra=extra) as server:
        yield server


@pytest.fixture
def restartable_redis(tmp_path):
    """A Redis that keeps its data on disk (AOF), to stop and start again."""
    with redis_server(tmp_path, persistent=True) as server:
        yield server


def app_on(server, settings_overrides):  # noqa: ANN001, ANN201
    return create_app({**settings_overrides, "REDIS_URL": server.url})


def start(client, phone: str) -> list[str]:  # noqa: ANN001
    """Start a survey: language (English), then consent; the first question is asked."""
    assert replies_of(sms(client, phone, "hola"))
    assert replies_of(sms(client, phone, "1"))
    return replies_of(sms(client, phone, "1"))


def conversation_state(app) -> tuple:  # noqa: ANN001
    """What one respondent's conversation holds in Redis (raw, encrypted values)."""
    settings = app.extensions["surveybot"].settings
    redis = app.extensions["surveybot"].redis
    p = pseudonym_for(settings, PHONE)
    seen = sorted(redis.keys(keys.message_seen(p, "*")))
    return redis.get(keys.session(p)), seen, redis.smembers(keys.STORAGE_INBOX)


def assert_refused_for_now(response, service: Service) -> None:  # noqa: ANN001
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body
    assert response.mimetype == "text/plain" and "<" not in body
    assert response.headers["Retry-After"].isdigit()
    assert service.value in body


def assert_no_key_names(caplog, app) -> None:  # noqa: ANN001
    settings = app.extensions["surveybot"].settings
    p = pseudonym_for(settings, PHONE)
    assert "sb:" not in caplog.text.replace("sb:<key>", "")
    assert p not in caplog.text and p.split(":")[1] not in caplog.text
    assert PHONE not in caplog.text and PHONE[1:] not in caplog.text


def test_redis_full_answers_503_and_a_retry_is_applied_once_memory_frees(
    small_redis, settings_overrides, caplog
):
    app = app_on(small_redis, settings_overrides)
    client = app.test_client()
    start(client, PHONE)
    before = conversation_state(app)

    fillers = full(small_redis.url)
    caplog.set_level(logging.INFO)
    answer = new_sid()
    for _ in range(2):  # the first delivery and Twilio's retry while memory is still full
        assert_refused_for_now(sms(client, PHONE, "2", sid=answer), Service.REDIS_FULL)
    assert conversation_state(app) == before  # the transition is all or nothing
    lines = [r.getMessage() for r in caplog.records if r.name == "surveybot.outages"]
    assert len(lines) == 2
    assert all(m.startswith("redis-memory full (OutOfMemoryError") for m in lines)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert_no_key_names(caplog, app)

    free(small_redis.url, fillers)
    applied = replies_of(sms(client, PHONE, "2", sid=answer))  # Twilio's next retry
    after = conversation_state(app)
    assert after != before
    assert len(after[1]) == len(before[1]) + 1  # one more message handled, not two
    assert replies_of(sms(client, PHONE, "2", sid=answer)) == applied  # a late duplicate
    assert conversation_state(app) == after


def test_redis_full_at_every_answer_loses_no_completed_survey(small_redis, settings_overrides):
    """Every answer first meets a full Redis (503), then is retried once memory frees and
    once more: the survey completes with exactly one sealed response, none lost."""
    app = app_on(small_redis, settings_overrides)
    client = app.test_client()
    redis = app.extensions["surveybot"].redis
    settings = app.extensions["surveybot"].settings
    start(client, PHONE)
    for _ in range(30):
        sid = new_sid()
        before = conversation_state(app)
        fillers = full(small_redis.url)
        assert_refused_for_now(sms(client, PHONE, "2", sid=sid), Service.REDIS_FULL)
        assert conversation_state(app) == before
        free(small_redis.url, fillers)
        replies = replies_of(sms(client, PHONE, "2", sid=sid))

        assert replies_of(sms(client, PHONE, "2", sid=sid)) == replies
        if inbox_records(redis, settings, inbox.RESPONSE):
            break
    else:
        pytest.fail("the survey never completed")
    assert len(inbox_records(redis, settings, inbox.RESPONSE)) == 1
    assert redis.get(keys.session(pseudonym_for(settings, PHONE))) is None  # ended


def test_redis_down_a_retried_delivery_is_applied_exactly_once(
    restartable_redis, settings_overrides, caplog
):
    app = app_on(restartable_redis, settings_overrides)
    client = app.test_client()
    start(client, PHONE)
    before = conversation_state(app)

    restartable_redis.stop()
    caplog.set_level(logging.INFO)
    answer = new_sid()
    assert_refused_for_now(sms(client, PHONE, "2", sid=answer), Service.REDIS)
    restartable_redis.restart()  # from its append-only file
    assert conversation_state(app) == before

    applied = replies_of(sms(client, PHONE, "2", sid=answer))  # Twilio's retry
    after = conversation_state(app)
    assert len(after[1]) == len(before[1]) + 1 and after[0] != before[0]
    assert replies_of(sms(client, PHONE, "2", sid=answer)) == applied  # a third delivery
    assert conversation_state(app) == after
    assert_no_key_names(caplog, app)


@pytest.mark.parametrize(
    ("policy", "maxmemory"),
    [("allkeys-lru", "8mb"), ("volatile-ttl", "8mb"), ("allkeys-lru", "0")],
)
def test_a_redis_that_evicts_keys_is_refused_in_production(tmp_path, policy, maxmemory, caplog):
    extra = ("--maxmemory", maxmemory, "--maxmemory-policy", policy)
    with redis_server(tmp_path, extra=extra) as server:
        client = Redis.from_url(server.url)
        try:
            with pytest.raises(ConfigError, match=f"maxmemory-policy is {policy}"):
                check_memory_policy(client, production=True, process="web")
            caplog.set_level(logging.WARNING)
            assert check_memory_policy(client, production=False, process="worker") == policy
            assert "worker: Redis's maxmemory-policy is " + policy in caplog.text
        finally:
            client.close()


def test_noeviction_passes_and_the_app_warns_outside_production(
    tmp_path, settings_overrides, caplog
):
    with redis_server(tmp_path, extra=("--maxmemory-policy", "noeviction")) as server:
        client = Redis.from_url(server.url)
        try:
            assert check_memory_policy(client, production=True, process="web") == "noeviction"
            client.config_set("maxmemory-policy", "allkeys-lfu")
            caplog.set_level(logging.WARNING)
            app = app_on(server, settings_overrides)  # a test environment: a warning only
            assert "web: Redis's maxmemory-policy is allkeys-lfu" in caplog.text
            app.extensions["surveybot"].redis.close()
        finally:
            client.close()


def test_redis_errors_in_logs_name_no_key(app, redis, caplog):
    """redis-py's text of a failed pipeline names its command and keys: Flask's log of an
    unhandled error (what gunicorn's log shows) and any other log line get neither."""
    p = pseudonym_for(app.extensions["surveybot"].settings, PHONE)
    key = keys.session(p)
    redis.rpush(key, "a list where a string belongs")

    @app.get("/boom")
    def boom():  # noqa: ANN202
        with redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.execute()
        return "unreachable"

    caplog.set_level(logging.INFO)
    with pytest.raises(ResponseError) as raised:
        with redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.execute()
    assert key in str(raised.value)  # redis-py's own text: the reason for scrubbing
    logging.getLogger("surveybot.test").exception("failed: %s", raised.value)
    assert app.test_client().get("/boom").status_code == 500
    assert "Exception on /boom" in caplog.text
    assert "WRONGTYPE" in caplog.text and "INCR" in caplog.text  # the reason is kept
    assert key not in caplog.text and p not in caplog.text
    redis.delete(key)


@pytest.mark.parametrize("command", ["worker", "cron"])
def test_worker_and_cron_refuse_an_evicting_redis_in_production(tmp_path, monkeypatch, command):
    from click.testing import CliRunner

    from bot.cli.processes import cron_command, worker_command

    extra = ("--maxmemory", "8mb", "--maxmemory-policy", "allkeys-lru")
    with redis_server(tmp_path, extra=extra) as server:
        monkeypatch.chdir(tmp_path)  # no .env of the developer's
        monkeypatch.setenv("SURVEYBOT_ENV", "production")
        monkeypatch.setenv("REDIS_URL", server.url)
        monkeypatch.delenv("DATABASE_URL", raising=False)
        runner = CliRunner()
        target = worker_command if command == "worker" else cron_command
        result = runner.invoke(target, ["--burst"] if command == "worker" else [])
        assert result.exit_code != 0
        assert "maxmemory-policy is allkeys-lru" in result.output
        client = Redis.from_url(server.url)
        try:
            assert client.dbsize() == 0  # refused before any work
        finally:
            client.close()


def test_healthz_says_down_while_redis_is_full_and_ok_once_memory_frees(
    small_redis, settings_overrides
):
    """A full Redis still answers PING and reads: /healthz looks at its memory, so that a load
    balancer or monitor sees what Twilio sees (every text refused with 503)."""
    app = app_on(small_redis, settings_overrides)
    client = app.test_client()
    assert client.get("/healthz").get_json()["redis"] == "ok"
    fillers = full(small_redis.url)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"redis": "full", "database": "ok", "status": "down"}
    free(small_redis.url, fillers)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_healthz_warns_while_redis_is_nearly_full(small_redis, settings_overrides):
    app = app_on(small_redis, settings_overrides)
    direct = Redis.from_url(small_redis.url)
    try:
        used = direct.info("memory")["used_memory"]
        direct.config_set("maxmemory", int(used / 0.95))  # 95% in use
        response = app.test_client().get("/healthz")
        assert response.status_code == 200
        assert response.get_json() == {
            "redis": "nearly full",
            "database": "ok",
            "status": "degraded",
        }
    finally:
        direct.config_set("maxmemory", "8mb")
        direct.close()
