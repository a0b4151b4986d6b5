"""Commands find the instance `surveybot dev` runs, check their settings before asking
anything, and explain in one line what is missing."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.cli.devserver import banner, run_dev
from bot.infra.config import load_settings
from bot.infra.devinstance import DevInstance, InstanceBusy

SECRETS = ("SECRET_KEY", "PSEUDONYM_KEY", "TWILIO_AUTH_TOKEN")
INFRA = ("REDIS_URL", "DATABASE_URL", "SURVEYBOT_ENV", "PUBLIC_BASE_URL", *SECRETS)


@pytest.fixture
def bare(monkeypatch, tmp_path):
    """A folder with nothing configured: no environment, no .env, no running instance."""
    for name in (*INFRA, "INSTANCE_PATH", "SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_help_lists_the_coalitions_commands_without_settings(bare):
    result = CliRunner().invoke(main, ["--help"])  # production by default, no secrets
    assert result.exit_code == 0, result.output
    assert result.exception is None
    for command in ("dev", "user", "wave", "report", "survey", "sim", "cleanup", "worker"):
        assert f"  {command} " in result.output
    for internal in ("run", "shell", "routes"):
        assert f"  {internal} " not in result.output
    for group in ("wave", "report", "user", "survey", "cleanup", "db"):
        result = CliRunner().invoke(main, [group, "--help"])
        assert result.exit_code == 0 and result.exception is None, result.output


@pytest.mark.parametrize(
    "args, missing",
    [
        (["user", "create", "a@example.org", "--role", "admin"], "DATABASE_URL"),
        (["user", "list"], "DATABASE_URL"),
        (["wave", "list"], "DATABASE_URL"),
        (["wave", "invite", "spring", "members.csv"], "DATABASE_URL"),
        (["report", "build", "--json"], "DATABASE_URL"),
        (["report", "send"], "DATABASE_URL"),
        (["cleanup", "status"], "REDIS_URL"),
        (["worker", "--burst"], "REDIS_URL"),
    ],
)
def test_a_missing_setting_stops_the_command_before_it_asks_anything(bare, args, missing):
    (bare / "members.csv").write_text("phone\n+13055550100\n")
    result = CliRunner().invoke(main, args, input="typed-at-a-prompt\n" * 3)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output  # one line, no prompt before it
    assert lines[0].startswith(f"Error: {missing} is not set")
    assert "surveybot dev" in lines[0] and f"set {missing}" in lines[0]
    assert "Password" not in result.output


def test_survey_check_needs_no_settings(bare, monkeypatch):
    result = CliRunner().invoke(main, ["survey", "check"])  # production: placeholders are errors
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "is not set" not in result.output
    assert "ERROR resources.org" in result.output and result.exit_code == 1
    monkeypatch.setenv("SURVEYBOT_ENV", "development")
    result = CliRunner().invoke(main, ["survey", "check"])
    assert result.exit_code == 0, result.output


def test_a_running_instance_lends_its_settings_and_the_environment_wins(bare, monkeypatch):
    instance = DevInstance(bare / "instance")
    values = {
        "REDIS_URL": "unix:///x/redis.sock",
        "DATABASE_URL": "sqlite:////x/db",
        "PSEUDONYM_KEY": "k" * 32,
    }
    (bare / ".env").write_text("DATABASE_URL=sqlite:////from/dotenv\nSMTP_URL=smtp://mail:25\n")
    lock = instance.acquire("pid 1, http://127.0.0.1:5000")
    try:
        instance.write_settings(values)
        settings = load_settings()
        assert settings.REDIS_URL == "unix:///x/redis.sock"
        assert settings.DATABASE_URL == "sqlite:////x/db"  # the instance's, over .env
        assert settings.PSEUDONYM_KEY == "k" * 32
        assert settings.SMTP_URL == "smtp://mail:25"  # .env still adds what it sets
        monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6379/0")
        assert load_settings().REDIS_URL == "redis://elsewhere:6379/0"  # exported wins
        with pytest.raises(InstanceBusy, match="pid 1"):
            DevInstance(bare / "instance").acquire("pid 2")
    finally:
        os.close(lock)
    # The same file, with no instance running: ignored.
    monkeypatch.delenv("REDIS_URL")
    assert instance.settings_path.is_file()
    settings = load_settings()
    assert settings.REDIS_URL == "" and settings.DATABASE_URL == "sqlite:////from/dotenv"


def test_the_instance_settings_file_is_private(bare):
    instance = DevInstance(bare / "instance")
    lock = instance.acquire("pid 1")
    try:
        instance.write_settings({"PSEUDONYM_KEY": "it's a 'quoted' \\ value"})
        assert instance.settings()["PSEUDONYM_KEY"] == "it's a 'quoted' \\ value"
        assert instance.settings_path.stat().st_mode & 0o077 == 0
    finally:
        os.close(lock)


def test_dev_refuses_a_busy_port_before_starting_anything(bare, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run_dev(port=port) == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port} is in use" in err and f"--port {port + 1}" in err
    started = {p.name for p in (bare / "instance").iterdir()}
    assert not started & {"redis.sock", "redis.conf", "surveybot.sqlite3"}, started
    assert not DevInstance(bare / "instance").running()  # the lock went with it


def test_the_banner_names_the_pages_and_the_first_account_command():
    text = banner("http://127.0.0.1:5000", outbound="the simulator", demo="demo", accounts=False)
    assert "http://127.0.0.1:5000/simulator" in text
    assert "http://127.0.0.1:5000/dashboard" in text
    assert "user create you@example.org --role admin" in text
    text = banner("http://127.0.0.1:5000", outbound="the simulator", demo=None, accounts=True)
    assert "user create" not in text and "Sign in" in text
