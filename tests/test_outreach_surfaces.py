"""Outreach as organizers see it: the CLI's estimate, `wave remind` and `wave outreach`, the
dashboard's progress and reminder upload; and the waiting jobs hold numbers sealed only."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import replace

from click.testing import CliRunner

from bot.cli.invite import invite_command, remind_command
from bot.cli.outreach import outreach_command
from bot.infra import keys
from bot.infra.queues import get_queue
from bot.outreach.invitations import queue_invitations
from bot.outreach.progress import invitation_progress
from bot.outreach.reminders import wave_reminder
from tests.dashboard_utils import csrf_token, signed_in
from tests.fake_twilio import FakeTwilio
from tests.test_privacy import assert_clean, formats, redis_dump, sealed_arguments
from tests.utils import open_test_wave
from workers import context
from workers.worker import ProjectSimpleWorker as SimpleWorker

WAVE = "summer-2026"
UTC = dt.UTC


def open_the_wave(db, redis) -> None:
    open_test_wave(db, redis, WAVE)


def cli_env(app, monkeypatch) -> None:
    settings = app.extensions["surveybot"].settings
    for name, value in {
        "SURVEYBOT_ENV": "test",
        "REDIS_URL": settings.REDIS_URL,
        "DATABASE_URL": settings.DATABASE_URL,
        "PSEUDONYM_KEY": settings.PSEUDONYM_KEY,
        "SEND_RATE_PER_SECOND": "1",
        "SEND_DAILY_CAP": "2",
        "DEFAULT_PHONE_REGION": "US",
    }.items():
        monkeypatch.setenv(name, value)


def test_the_cli_estimates_days_and_reminds_and_shows_progress(
    app, db, redis, tmp_path, monkeypatch
):
    cli_env(app, monkeypatch)
    open_the_wave(db, redis)
    upload = tmp_path / "members.csv"
    upload.write_text("phone\n305-555-0101\n305-555-0102\n305-555-0103\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(invite_command, [WAVE, str(upload)], input="n\n")
    assert result.exit_code == 0, result.output
    assert (
        "Estimate: 3 texts at up to 2 a day (the sender's daily cap), sent 9:00-20:00 in each "
        "recipient's local time: about 2 days." in result.output
    )
    assert result.output.index("Estimate:") < result.output.index("Queue these invitations?")

    result = runner.invoke(remind_command, [WAVE, str(upload), "--language", "es", "--yes"])
    assert result.exit_code == 0, result.output
    text = wave_reminder(redis, WAVE, "es")
    assert f"\n  {text}\n" in result.output and "ENCUESTA" in text
    assert "Queued 3 reminders." in result.output
    assert invitation_progress(redis, WAVE, "reminder").queued == 3
    for shape in formats("+13055550101"):
        assert shape not in result.output

    result = runner.invoke(
        outreach_command, [WAVE, "--window", "10:00-19:00", "--daily-cap", "500"]
    )
    assert result.exit_code == 0, result.output
    assert "sending window: 10:00-19:00 in each recipient's local time" in result.output
    assert "daily cap: 500 a day (sender, all waves: 2 a day)" in result.output
    assert "reminders: 3 queued, 3 pending" in result.output
    assert "estimated end: 2026-11-19" in result.output  # 2 today (Nov 18), 1 tomorrow
    result = runner.invoke(outreach_command, [WAVE, "--window", "20:00-9:00"])
    assert result.exit_code == 1 and "a sending window starts before it ends" in result.output


def test_the_dashboard_shows_sending_and_takes_a_reminder_upload(app, db, redis):
    open_the_wave(db, redis)
    client = signed_in(app, "organizer")
    path = f"/dashboard/waves/{WAVE}/invitations"
    page = client.get(path).get_data(as_text=True)
    assert "Texts reach people only 9:00-20:00 in their own local time" in page
    assert "Waiting for their window or day" in page and "Remind people" in page
    content = b"phone\n305-555-0101\n305-555-0102\n"
    form = {"language": "ht", "region": "US", "kind": "reminder"}

    def post(**extra):
        data = {
            "csrf_token": csrf_token(client),
            "file": (io.BytesIO(content), "members.csv"),
            **form,
            **extra,
        }
        return client.post(path, data=data, content_type="multipart/form-data")

    html = post(step="check").get_data(as_text=True)
    assert "Send 2 reminders" in html and "The reminder, exactly as it will be sent" in html
    assert "Rapèl" in html and "about 1 day" in html
    import re

    digest = re.search(r'name="digest" value="([0-9a-f]+)"', html)[1]
    sent = post(step="send", digest=digest)
    assert sent.status_code == 302
    assert int(redis.hget(keys.invite_stats(WAVE), "reminder:queued")) == 2
    assert "invitation:queued" not in {k.decode() for k in redis.hkeys(keys.invite_stats(WAVE))}
    assert post(step="check", kind="other").status_code == 302  # refused, back to the form


def test_a_waiting_invitation_holds_its_number_sealed_only(app, db, redis, clock):
    open_the_wave(db, redis)
    number = "+12135550123"  # Los Angeles: 4:00 there, the job waits for 9:00
    clock.set(dt.datetime(2026, 11, 18, 12, 0, tzinfo=UTC))
    with FakeTwilio() as fake:
        settings = replace(
            app.extensions["surveybot"].settings,
            TWILIO_ACCOUNT_SID="AC" + "1" * 32,
            TWILIO_MESSAGING_SERVICE_SID="MG" + "2" * 32,
            TWILIO_API_BASE_URL=fake.url,
            SEND_RATE_PER_SECOND=1000.0,
        )
        context.configure(settings)
        queue = get_queue(redis)
        queue_invitations(settings, redis, queue, wave=WAVE, numbers=[number], language="en")
        SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)
        assert fake.requests == [] and invitation_progress(redis, WAVE).waiting == 1
    dump = redis_dump(redis)
    assert_clean([k for k, _ in dump] + [v for _, v in dump], [number], [], "Redis")
    assert sealed_arguments(dump, settings.storage_secret_key) == {number}
