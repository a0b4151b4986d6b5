"""The `surveybot` command: survey check, db upgrade, worker, cron, and the dev runner."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner
from redis import Redis
from sqlalchemy import inspect

from bot.cli import main
from bot.cli.devserver import dev_secrets
from bot.core.questionnaire import DEFAULT_SURVEY_PATH
from bot.infra.db import get_engine
from bot.infra.queues import STORE_BATCH_JOB, get_queue
from tests.conftest import TEST_SECRETS
from tests.test_storage import payload
from tests.test_webhook import responses

NO_SECRETS = {name: None for name in ("SECRET_KEY", "PSEUDONYM_KEY", "TWILIO_AUTH_TOKEN")}


def test_survey_check_passes_the_shipped_questionnaire_outside_production():
    result = CliRunner(env={"SURVEYBOT_ENV": "test"}).invoke(main, ["survey", "check"])
    assert result.exit_code == 0, result.output
    assert "for test (SURVEYBOT_ENV)" in result.output
    assert "0 errors" in result.output
    assert "segment" in result.output
    assert 'WARNING resources.org: still the placeholder "the coalition"' in result.output


def test_survey_check_in_production_fails_on_the_shipped_placeholders_without_secrets():
    env = {"SURVEYBOT_ENV": "production", **NO_SECRETS}
    result = CliRunner(env=env).invoke(main, ["survey", "check"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith("community_safety.yaml for production (SURVEYBOT_ENV)")
    errors = [line for line in lines if line.startswith("ERROR")]
    assert errors == [
        'ERROR resources.hotline: still the placeholder "1-888-000-0000": change '
        f"resources.hotline in {DEFAULT_SURVEY_PATH} to the real know-your-rights hotline number",
        'ERROR resources.org: still the placeholder "the coalition": change resources.org in '
        f"{DEFAULT_SURVEY_PATH} to the coalition's own name as respondents know it (used as is "
        "in every language)",
    ]
    assert "segment" in result.output  # the rest of the file was linted all the same
    assert lines[-1].startswith("2 errors, ")


def test_survey_check_in_production_passes_once_the_resources_are_replaced(tmp_path):
    source = DEFAULT_SURVEY_PATH.read_text(encoding="utf-8")
    replaced = source.replace('  org: "the coalition"\n', '  org: "WeCount!"\n', 1).replace(
        '  hotline: "1-888-000-0000"\n', '  hotline: "1-305-555-0147"\n', 1
    )
    assert replaced.count('org: "the coalition"') == 1  # the `placeholders:` mark stays
    survey = tmp_path / "survey.yaml"
    survey.write_text(replaced, encoding="utf-8")
    env = {"SURVEYBOT_ENV": "production", **NO_SECRETS}
    result = CliRunner(env=env).invoke(main, ["survey", "check", str(survey)])
    assert result.exit_code == 0, result.output
    assert "resources." not in result.output and "0 errors" in result.output


def test_survey_check_fails_a_broken_questionnaire(tmp_path, repo_root):
    source = (repo_root / "bot/surveys/community_safety.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        source.replace('afraid_to_seek_help: ["yes"]', 'afraid_to_seek_help: ["maybe"]')
    )
    assert broken.read_text() != source
    # Outside production, so that the shipped placeholders are not what fails it.
    result = CliRunner(env={"SURVEYBOT_ENV": "test"}).invoke(main, ["survey", "check", str(broken)])
    assert result.exit_code == 1
    assert "maybe" in result.output and "1 error," in result.output


def test_db_upgrade_creates_the_schema(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert {"response", "answer", "opt_out"} <= set(inspect(get_engine(url)).get_table_names())


def test_worker_burst_stores_a_batch_and_old_storage_jobs(redis_url, db, redis, monkeypatch):
    from bot.infra.config import load_settings
    from bot.records import inbox
    from tests.utils import enqueue_legacy_store

    queue = get_queue(Redis.from_url(redis_url))
    settings = load_settings(
        {"SURVEYBOT_ENV": "test", **TEST_SECRETS}, env_file=None, dev_instance=False
    )
    inbox.put(redis, settings.storage_public_key, inbox.RESPONSE, payload())
    queue.enqueue(STORE_BATCH_JOB, force=True)
    enqueue_legacy_store(queue, payload())  # queued by the release before the inbox
    monkeypatch.setenv("PSEUDONYM_KEY", TEST_SECRETS["PSEUDONYM_KEY"])
    monkeypatch.setenv("SURVEYBOT_ENV", "test")
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", db)
    result = CliRunner().invoke(main, ["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert len(responses(db)) == 2
    assert inbox.size(redis) == 0
    from workers import context

    context.configure(None)


def test_cron_config_registers_the_safety_net_and_the_weekly_report(redis):
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=redis, name="test")
    scheduler.load_config_from_file("workers.cron_config")
    jobs = {job.name: job for job in scheduler.get_jobs()}
    safety_net = jobs["workers.storage.requeue_failed_storage"]
    assert safety_net.interval == 3600
    assert jobs["workers.storage.store_batch"].interval == 30
    # Monday 08:00 in New York is 13:00 UTC in winter and 12:00 UTC in summer: both registered.
    weekly = sorted(j.cron for j in jobs.values() if j.func_name.endswith("weekly_report_tick"))
    assert weekly == ["0 12 * * 1", "0 13 * * 1"]


def test_flask_cli_has_the_same_commands(app):
    assert {"dev", "worker", "cron", "db", "survey", "sim"} <= set(app.cli.commands)


def test_workers_do_not_import_the_web_stack():
    code = (
        "import sys, workers.storage, workers.cron_config; "
        "assert 'flask' not in sys.modules, 'flask imported'; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_dev_secrets_are_made_once_and_kept(tmp_path):
    first = dev_secrets(tmp_path)
    assert dev_secrets(tmp_path) == first
    assert len(first["PSEUDONYM_KEY"]) == 64
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o077 == 0


def test_an_organizers_first_hour_with_surveybot_dev(repo_root):
    """The README's walk end to end, as CI runs it: scripts/smoke_dev.py."""
    result = subprocess.run(
        [sys.executable, str(repo_root / "scripts/smoke_dev.py")],
        capture_output=True,
        text=True,
        timeout=180,
        env={k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for step in (
        "banner shown",
        "signed in to the dashboard",
        "invitation sent to 1 of 2 numbers",
        "responses stored: 2",
        "report emailed",
        "no process left",
    ):
        assert step in result.stdout, result.stdout[-3000:]
