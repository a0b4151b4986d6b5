"""Settings: one place, read once; production refuses missing or default secrets."""

from __future__ import annotations

import pytest

from bot import create_app
from bot.infra.config import Environment, load_settings
from bot.infra.exceptions import ConfigError
from bot.infra.sealing import generate_storage_keys

GOOD = {
    "SURVEYBOT_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "PSEUDONYM_KEY": "p" * 40,
    "TWILIO_AUTH_TOKEN": "t" * 32,
    "PUBLIC_BASE_URL": "https://survey.example.org",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "DATABASE_URL": "sqlite:///unused.sqlite3",
    "STORAGE_PUBLIC_KEY": generate_storage_keys()[0],
}


def test_production_is_the_default_environment(monkeypatch):
    monkeypatch.delenv("SURVEYBOT_ENV", raising=False)
    assert load_settings({}, env_file=None).SURVEYBOT_ENV is Environment.PRODUCTION


@pytest.mark.parametrize("name", ["SECRET_KEY", "PSEUDONYM_KEY", "TWILIO_AUTH_TOKEN"])
@pytest.mark.parametrize("bad", ["", "dev", "changeme", "short-secret"])
def test_production_refuses_missing_or_default_secrets(name, bad):
    with pytest.raises(ConfigError, match=name):
        load_settings({**GOOD, name: bad}, env_file=None).validate()
    with pytest.raises(ConfigError, match=name):
        create_app({**GOOD, name: bad})


def test_production_needs_the_public_url_that_twilio_signs():
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        load_settings({**GOOD, "PUBLIC_BASE_URL": ""}, env_file=None).validate()


def test_production_refuses_the_simulator():
    """It signs requests with the real auth token and has no login."""
    with pytest.raises(ConfigError, match="SIMULATOR_ENABLED"):
        create_app({**GOOD, "SIMULATOR_ENABLED": "1"})


def test_production_with_real_secrets_starts(redis_url):
    app = create_app({**GOOD, "REDIS_URL": redis_url})
    settings = app.extensions["surveybot"].settings
    assert settings.is_production and not settings.simulator_on
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.test_client().get("/simulator").status_code == 404
    app.extensions["surveybot"].redis.close()


def test_values_are_typed_and_overrides_win(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SESSION_TTL_HOURS=24\nSMALL_CELL_MIN=7\nREPORT_RECIPIENTS=a@x.org\n")
    monkeypatch.setenv("SMALL_CELL_MIN", "9")
    settings = load_settings(
        {"REPORT_RECIPIENTS": "a@x.org, b@y.org", "TRUST_PROXY": "true"}, env_file=str(env_file)
    )
    assert settings.SESSION_TTL_HOURS == 24.0  # from .env
    assert settings.SMALL_CELL_MIN == 9  # the environment beats .env
    assert settings.REPORT_RECIPIENTS == ("a@x.org", "b@y.org")  # overrides beat both
    assert settings.TRUST_PROXY == 1  # one proxy (TRUST_PROXY once was yes/no)
    assert settings.session_ttl_seconds == 24 * 3600


def test_a_malformed_number_is_a_clear_error():
    with pytest.raises(ConfigError, match="SMALL_CELL_MIN"):
        load_settings({"SMALL_CELL_MIN": "five"}, env_file=None)


def test_every_setting_is_documented_in_env_example(repo_root):
    from dataclasses import fields

    from bot.infra.config import Settings

    documented = {
        line.split("=", 1)[0]
        for line in (repo_root / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    names = {f.name for f in fields(Settings)} - {"extra"}
    assert names <= documented, names - documented
