"""Survey waves: lifecycle, the snapshot, routing texts to waves, closing, invitations."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlmodel import Session

from bot.cli import main
from bot.core.engine import language_prompt
from bot.core.questionnaire import DEFAULT_SURVEY_PATH
from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.privacy import pseudonym
from bot.outreach.waves import WaveError, WaveStatus, close_wave, create_wave, get_wave, open_wave
from tests.factories import REAL_RESOURCES, finished_survey
from tests.test_webhook import responses
from tests.utils import run_jobs, text

PHONE = "+13055550160"


@pytest.fixture
def session(db):
    with Session(get_engine(db)) as value:
        yield value


def q_of(app):
    return app.extensions["surveybot"].questionnaire


def finish(client, phone, lang="en"):
    """Consent and answer every question with 2 (no follow-up question)."""
    replies = text(client, phone, "1")
    for _ in range(10):
        replies_now = text(client, phone, "2")
        replies = replies_now
        if "1." not in replies[-1]:
            break
    return replies


def test_lifecycle_and_rules(session, redis):
    wave = create_wave(session, name="summer-2026", title="Summer 2026")
    assert wave.status == WaveStatus.DRAFT and wave.questionnaire_yaml == ""
    with pytest.raises(WaveError, match="already exists"):
        create_wave(session, name="summer-2026")
    with pytest.raises(WaveError, match="lowercase"):
        create_wave(session, name="Summer 2026!")
    with pytest.raises(WaveError, match="only an open wave"):
        close_wave(session, redis, "summer-2026")
    opened = open_wave(session, redis, "summer-2026", allow_placeholders=True)
    assert opened.status == WaveStatus.OPEN and opened.is_default  # the only open wave
    assert "afraid_to_seek_help" in opened.questionnaire_yaml
    with pytest.raises(WaveError, match="only a draft"):
        open_wave(session, redis, "summer-2026", allow_placeholders=True)
    # A second wave with the same start keywords cannot be open at the same time.
    create_wave(session, name="fall-2026")
    with pytest.raises(WaveError, match="start keywords already used"):
        open_wave(session, redis, "fall-2026", allow_placeholders=True)
    close_wave(session, redis, "summer-2026")
    assert get_wave(session, "summer-2026").status == WaveStatus.CLOSED
    with pytest.raises(WaveError, match="only a draft"):
        open_wave(session, redis, "summer-2026", allow_placeholders=True)


def test_editing_the_file_never_changes_a_running_wave(
    app, client, session, redis, tmp_path, repo_root
):
    survey = tmp_path / "survey.yaml"
    source = (repo_root / "bot/surveys/community_safety.yaml").read_text()
    survey.write_text(source)
    create_wave(session, name="snap", survey_file=str(survey))
    open_wave(session, redis, "snap", allow_placeholders=True)
    survey.write_text(source.replace("What is your immigration status?", "CHANGED QUESTION?"))
    text(client, PHONE, "SURVEY")
    replies = text(client, PHONE, "1")
    assert "immigration status" in replies[0] and "CHANGED" not in replies[0]


def test_an_unreadable_or_broken_questionnaire_file_is_a_wave_error(
    session, redis, tmp_path, repo_root
):
    survey = tmp_path / "survey.yaml"
    with pytest.raises(WaveError, match="cannot be read: No such file"):
        create_wave(session, name="missing", survey_file=str(survey))
    survey.write_text("questions: [")
    with pytest.raises(WaveError, match="is not valid: not valid YAML"):
        create_wave(session, name="broken", survey_file=str(survey))
    survey.write_bytes(b"\xff\xfe")
    with pytest.raises(WaveError, match="is not UTF-8 text"):
        create_wave(session, name="binary", survey_file=str(survey))
    # The file changed (or went) between creating the wave and opening it.
    survey.write_text((repo_root / "bot/surveys/community_safety.yaml").read_text())
    create_wave(session, name="changed", survey_file=str(survey))
    survey.write_text("languages: [en]\nquestions: []\n")
    with pytest.raises(WaveError, match="is not valid: questions: at least one"):
        open_wave(session, redis, "changed", allow_placeholders=True)
    survey.unlink()
    with pytest.raises(WaveError, match="cannot be read"):
        open_wave(session, redis, "changed", allow_placeholders=True)
    assert get_wave(session, "changed").status == WaveStatus.DRAFT
    assert not redis.exists(keys.WAVES_OPEN)


def test_texts_go_to_the_wave_of_their_keyword_or_the_default(app, client, session, redis, db):
    create_wave(session, name="general", default=True)
    open_wave(session, redis, "general", allow_placeholders=True)
    create_wave(session, name="haiti-focus", start_keywords={"ht": ["AYITI"], "en": ["HAITI"]})
    open_wave(session, redis, "haiti-focus", allow_placeholders=True)
    q = q_of(app)
    assert text(client, "+13055550161", "AYITI") == [q.message("consent", "ht")]
    finish(client, "+13055550161")
    assert text(client, "+13055550162", "hello") == [language_prompt(q).text]
    text(client, "+13055550162", "1")
    finish(client, "+13055550162")
    run_jobs(app)
    assert sorted(r.wave for r in responses(db)) == ["general", "haiti-focus"]
    asked = redis.hgetall(keys.asked_stats("haiti-focus"))
    assert int(asked[b"status"]) == 1 and b"fear_reasons" not in asked


def test_no_wave_open_gets_a_kind_reply_and_stop_still_works(app, client, session, redis):
    create_wave(session, name="only")
    open_wave(session, redis, "only", allow_placeholders=True)
    close_wave(session, redis, "only")
    q = q_of(app)
    assert text(client, PHONE, "ENCUESTA") == [q.message("no_wave_open", "es")]
    replies = text(client, PHONE, "hello")
    for lang in q.languages:
        assert q.message("no_wave_open", lang) in replies[0]
    assert text(client, PHONE, "AYUDA") == [
        q.message("help", "es"),
        q.message("no_wave_open", "es"),
    ]
    assert text(client, PHONE, "STOP") == []
    assert redis.exists(keys.opted_out(pseudonym("test-pseudonym-key-0123456789abcdef", PHONE)))
    assert not redis.keys("sb:{*}:session")


def test_closing_a_wave_ends_conversations_in_flight_and_drops_markers(app, client, session, redis):
    create_wave(session, name="short")
    open_wave(session, redis, "short", allow_placeholders=True)
    q = q_of(app)
    text(client, PHONE, "SURVEY")
    text(client, PHONE, "1")
    text(client, PHONE, "2")  # one answer given
    finisher = "+13055550163"
    text(client, finisher, "SURVEY")
    finish(client, finisher)
    done_key = keys.completed_waves(pseudonym("test-pseudonym-key-0123456789abcdef", finisher))
    assert redis.get(done_key) == b"short"
    assert close_wave(session, redis, "short") == 1
    assert redis.get(done_key) is None
    other = keys.completed_waves("v1:someone-who-answered-two-waves")
    redis.set(other, "earlier,short")
    create_wave(session, name="short2")
    open_wave(session, redis, "short2", allow_placeholders=True)
    redis.set(other, "earlier,short2")
    close_wave(session, redis, "short2")
    assert redis.get(other) == b"earlier"  # only the closed wave's marker goes
    assert text(client, PHONE, "1") == [q.message("wave_closed", "en")]
    assert not redis.keys("sb:{*}:session")  # the partial answers are gone
    assert text(client, PHONE, "1")[0].startswith(q.message("no_wave_open", "en")[:20])


def test_an_invited_person_lands_in_the_wave_in_the_invitations_language(
    app, client, session, redis, db
):
    create_wave(session, name="general", default=True)
    open_wave(session, redis, "general", allow_placeholders=True)
    create_wave(session, name="invited-wave", start_keywords={"en": ["INVITED"]})
    open_wave(session, redis, "invited-wave", allow_placeholders=True)
    invitee = pseudonym("test-pseudonym-key-0123456789abcdef", PHONE)
    redis.set(keys.invited(invitee), json.dumps({"wave": "invited-wave", "lang": "ht"}))
    q = q_of(app)
    assert text(client, PHONE, "wi") == [q.message("consent", "ht")]
    assert not redis.exists(keys.invited(invitee))
    finish(client, PHONE, "ht")
    run_jobs(app)
    [stored] = responses(db)
    assert (stored.wave, stored.language) == ("invited-wave", "ht")


def test_the_registry_is_reloaded_when_waves_change(app, client, session, redis):
    create_wave(session, name="first")
    open_wave(session, redis, "first", allow_placeholders=True)
    assert text(client, PHONE, "SURVEY") == [q_of(app).message("consent", "en")]
    close_wave(session, redis, "first")
    create_wave(session, name="second", start_keywords={"en": ["POLL"]})
    open_wave(session, redis, "second", allow_placeholders=True)
    # The conversation of the closed wave ends; the new wave's keyword now starts one.
    assert text(client, PHONE, "1") == [q_of(app).message("wave_closed", "en")]
    assert text(client, PHONE, "POLL") == [q_of(app).message("consent", "en")]


def test_wave_commands(redis_url, db, redis, monkeypatch):
    monkeypatch.setenv("SURVEYBOT_ENV", "test")
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", db)
    runner = CliRunner()
    result = runner.invoke(
        main, ["wave", "create", "summer-2026", "--title", "Summer 2026", "--keyword", "es=VERANO"]
    )
    assert result.exit_code == 0, result.output
    assert runner.invoke(main, ["wave", "open", "summer-2026"]).exit_code == 0
    # Live counters move while people text: the commands never show them, only releases.
    redis.hset(keys.wave_stats("summer-2026"), mapping={"started": 12, "completed": 3})
    listing = runner.invoke(main, ["wave", "list"]).output
    assert "summer-2026" in listing and "open" in listing
    assert "started      -  completed      -" in listing and "12" not in listing
    shown = json.loads(runner.invoke(main, ["wave", "show", "summer-2026"]).output)
    assert shown["start_keywords"] == {"es": ["VERANO"]} and shown["status"] == "open"
    assert (shown["release"], shown["started"], shown["completed"]) == (None, None, None)
    result = runner.invoke(main, ["wave", "close", "summer-2026"])
    assert result.exit_code == 0 and "closed" in result.output
    result = runner.invoke(main, ["wave", "open", "nope"])
    assert result.exit_code == 1 and "no wave named" in result.output
    missing = runner.invoke(main, ["wave", "create", "fall", "--survey", "/nonexistent.yaml"])
    assert missing.exit_code == 1 and "cannot be read" in missing.output


def test_waves_open_and_close_at_their_planned_times(session, redis):
    import datetime as dt

    from bot.outreach.waves import apply_schedule

    start = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
    create_wave(session, name="spring", opens_at=start - dt.timedelta(days=60), closes_at=start)
    create_wave(session, name="summer", opens_at=start, closes_at=start + dt.timedelta(days=14))
    create_wave(
        session,
        name="missed",
        opens_at=start - dt.timedelta(days=9),
        closes_at=start - dt.timedelta(days=2),
    )
    assert apply_schedule(
        session, redis, start - dt.timedelta(days=30), allow_placeholders=True
    ) == ["opened spring"]
    assert (
        apply_schedule(session, redis, start - dt.timedelta(days=29), allow_placeholders=True) == []
    )
    # Spring closes and summer (same start keywords) opens in the same minute.
    assert apply_schedule(session, redis, start, allow_placeholders=True) == [
        "closed spring",
        "opened summer",
    ]
    assert get_wave(session, "summer").status == WaveStatus.OPEN
    assert get_wave(session, "missed").status == WaveStatus.DRAFT
    assert apply_schedule(
        session, redis, start + dt.timedelta(days=14), allow_placeholders=True
    ) == ["closed summer"]
    registry = json.loads(json.dumps({k.decode(): 1 for k in redis.hkeys(keys.WAVES_OPEN)}))
    assert registry == {}


# --------------------------------------------------------------- placeholders (production)


def test_production_refuses_to_open_a_wave_whose_questionnaire_has_placeholders(
    session, redis, tmp_path
):
    create_wave(session, name="summer-2026")
    with pytest.raises(WaveError) as refused:
        open_wave(session, redis, "summer-2026", allow_placeholders=False)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("wave 'summer-2026' was not opened: its questionnaire still has")
    assert 'resources.hotline is "1-888-000-0000", resources.org is "the coalition"' in message
    assert f"replace them in {DEFAULT_SURVEY_PATH}" in message
    assert get_wave(session, "summer-2026").status == WaveStatus.DRAFT
    assert get_wave(session, "summer-2026").questionnaire_yaml == ""
    assert not redis.exists(keys.WAVES_OPEN)
    # Outside production the shipped file opens as it is.
    assert open_wave(session, redis, "summer-2026", allow_placeholders=True).status == "open"

    # Once the organizer replaced them, production opens the wave.
    create_wave(
        session,
        name="fall-2026",
        survey_file=str(finished_survey(tmp_path)),
        start_keywords={"en": ["FALL"]},
    )
    opened = open_wave(session, redis, "fall-2026", allow_placeholders=False)
    assert opened.status == WaveStatus.OPEN
    assert REAL_RESOURCES["org"] in opened.questionnaire_yaml
    assert redis.hexists(keys.WAVES_OPEN, "fall-2026")


def test_the_file_is_checked_when_the_wave_opens_not_when_it_was_created(session, redis, tmp_path):
    survey = finished_survey(tmp_path)
    finished = survey.read_text(encoding="utf-8")
    create_wave(session, name="edited", survey_file=str(survey))
    survey.write_text(DEFAULT_SURVEY_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(WaveError, match=r'resources\.org is "the coalition"'):
        open_wave(session, redis, "edited", allow_placeholders=False)
    survey.write_text(finished, encoding="utf-8")
    assert open_wave(session, redis, "edited", allow_placeholders=False).status == "open"


def test_the_demo_wave_opens_with_the_shipped_file_outside_production_only(session, redis):
    from bot.outreach.waves import DEMO_WAVE, ensure_demo_wave

    with pytest.raises(WaveError, match="still has placeholders"):
        ensure_demo_wave(session, redis, allow_placeholders=False)
    assert get_wave(session, DEMO_WAVE).status == WaveStatus.DRAFT
    session.delete(get_wave(session, DEMO_WAVE))
    session.commit()

    demo = ensure_demo_wave(session, redis, allow_placeholders=True)
    assert demo is not None and demo.status == WaveStatus.OPEN
    assert ensure_demo_wave(session, redis, allow_placeholders=True) is None  # not twice


def test_the_dev_server_opens_the_demo_wave_with_the_shipped_file(db, redis_url, redis):
    from bot.cli.devserver import prepare_waves

    assert prepare_waves(db, redis_url) == "demo"
    assert redis.hexists(keys.WAVES_OPEN, "demo")


def test_cli_wave_open_refuses_placeholders_in_production(
    monkeypatch, redis_url, db, redis, tmp_path
):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", db)
    for name in ("SECRET_KEY", "PSEUDONYM_KEY", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SURVEYBOT_ENV", "production")
    runner = CliRunner()
    assert runner.invoke(main, ["wave", "create", "shipped"]).exit_code == 0
    result = runner.invoke(main, ["wave", "open", "shipped"])
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("Error: wave 'shipped' was not opened: its questionnaire still has")
    assert 'resources.org is "the coalition"' in line and str(DEFAULT_SURVEY_PATH) in line
    assert get_wave(Session(get_engine(db)), "shipped").status == WaveStatus.DRAFT

    survey = finished_survey(tmp_path)
    runner.invoke(main, ["wave", "create", "finished", "--survey", str(survey)])
    result = runner.invoke(main, ["wave", "open", "finished"])
    assert result.exit_code == 0, result.output
    assert result.output == "wave finished is open (the default for plain texts)\n"

    monkeypatch.setenv("SURVEYBOT_ENV", "development")
    runner.invoke(main, ["wave", "create", "dev", "--keyword", "en=DEV"])
    assert runner.invoke(main, ["wave", "open", "dev"]).exit_code == 0


def test_a_planned_opening_with_placeholders_logs_why_and_stays_a_draft(
    app, session, redis, tmp_path, caplog
):
    import datetime as dt
    import logging
    from dataclasses import replace

    from bot.infra.config import Environment
    from bot.outreach.waves import apply_schedule
    from workers import context
    from workers.weekly import apply_wave_schedule

    # Opening times long past, whatever today's date is (the cron job reads the clock).
    long_ago = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    create_wave(session, name="planned", opens_at=long_ago)
    now = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
    (line,) = apply_schedule(session, redis, now, allow_placeholders=False)
    assert line.startswith("could not open planned: wave 'planned' was not opened")
    assert "still has placeholders" in line
    assert get_wave(session, "planned").status == WaveStatus.DRAFT

    # The cron job (every minute) decides from its settings and logs the refusal.
    create_wave(
        session,
        name="planned-finished",
        survey_file=str(finished_survey(tmp_path)),
        start_keywords={"en": ["PLANNED"]},
        opens_at=long_ago,
    )
    production = replace(app.extensions["surveybot"].settings, SURVEYBOT_ENV=Environment.PRODUCTION)
    context.configure(production)
    with caplog.at_level(logging.INFO, logger="workers.weekly"):
        done = apply_wave_schedule()
    assert done == [line, "opened planned-finished"]
    refused = [r for r in caplog.records if "could not open planned" in r.getMessage()]
    assert [r.levelno for r in refused] == [logging.WARNING]
    assert "still has placeholders" in refused[0].getMessage()
    session.expire_all()
    assert get_wave(session, "planned").status == WaveStatus.DRAFT
    assert get_wave(session, "planned-finished").status == WaveStatus.OPEN

    # Outside production the same job opens it.
    context.configure(app.extensions["surveybot"].settings)
    assert apply_wave_schedule() == ["opened planned"]
