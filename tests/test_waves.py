"""Survey waves: lifecycle, the snapshot, routing texts to waves, closing, invitations."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlmodel import Session

from bot import keys
from bot.cli import main
from bot.db import get_engine
from bot.engine import language_prompt
from bot.privacy import pseudonym
from bot.waves import WaveError, WaveStatus, close_wave, create_wave, get_wave, open_wave
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
    opened = open_wave(session, redis, "summer-2026")
    assert opened.status == WaveStatus.OPEN and opened.is_default  # the only open wave
    assert "afraid_to_seek_help" in opened.questionnaire_yaml
    with pytest.raises(WaveError, match="only a draft"):
        open_wave(session, redis, "summer-2026")
    # A second wave with the same start keywords cannot be open at the same time.
    create_wave(session, name="fall-2026")
    with pytest.raises(WaveError, match="start keywords already used"):
        open_wave(session, redis, "fall-2026")
    close_wave(session, redis, "summer-2026")
    assert get_wave(session, "summer-2026").status == WaveStatus.CLOSED
    with pytest.raises(WaveError, match="only a draft"):
        open_wave(session, redis, "summer-2026")


def test_editing_the_file_never_changes_a_running_wave(
    app, client, session, redis, tmp_path, repo_root
):
    survey = tmp_path / "survey.yaml"
    source = (repo_root / "bot/surveys/community_safety.yaml").read_text()
    survey.write_text(source)
    create_wave(session, name="snap", survey_file=str(survey))
    open_wave(session, redis, "snap")
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
        open_wave(session, redis, "changed")
    survey.unlink()
    with pytest.raises(WaveError, match="cannot be read"):
        open_wave(session, redis, "changed")
    assert get_wave(session, "changed").status == WaveStatus.DRAFT
    assert not redis.exists(keys.WAVES_OPEN)


def test_texts_go_to_the_wave_of_their_keyword_or_the_default(app, client, session, redis, db):
    create_wave(session, name="general", default=True)
    open_wave(session, redis, "general")
    create_wave(session, name="haiti-focus", start_keywords={"ht": ["AYITI"], "en": ["HAITI"]})
    open_wave(session, redis, "haiti-focus")
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
    open_wave(session, redis, "only")
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
    open_wave(session, redis, "short")
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
    open_wave(session, redis, "short2")
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
    open_wave(session, redis, "general")
    create_wave(session, name="invited-wave", start_keywords={"en": ["INVITED"]})
    open_wave(session, redis, "invited-wave")
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
    open_wave(session, redis, "first")
    assert text(client, PHONE, "SURVEY") == [q_of(app).message("consent", "en")]
    close_wave(session, redis, "first")
    create_wave(session, name="second", start_keywords={"en": ["POLL"]})
    open_wave(session, redis, "second")
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
    listing = runner.invoke(main, ["wave", "list"]).output
    assert "summer-2026" in listing and "open" in listing
    shown = json.loads(runner.invoke(main, ["wave", "show", "summer-2026"]).output)
    assert shown["start_keywords"] == {"es": ["VERANO"]} and shown["status"] == "open"
    result = runner.invoke(main, ["wave", "close", "summer-2026"])
    assert result.exit_code == 0 and "closed" in result.output
    result = runner.invoke(main, ["wave", "open", "nope"])
    assert result.exit_code == 1 and "no wave named" in result.output
    missing = runner.invoke(main, ["wave", "create", "fall", "--survey", "/nonexistent.yaml"])
    assert missing.exit_code == 1 and "cannot be read" in missing.output


def test_waves_open_and_close_at_their_planned_times(session, redis):
    import datetime as dt

    from bot.waves import apply_schedule

    start = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
    create_wave(session, name="spring", opens_at=start - dt.timedelta(days=60), closes_at=start)
    create_wave(session, name="summer", opens_at=start, closes_at=start + dt.timedelta(days=14))
    create_wave(
        session,
        name="missed",
        opens_at=start - dt.timedelta(days=9),
        closes_at=start - dt.timedelta(days=2),
    )
    assert apply_schedule(session, redis, start - dt.timedelta(days=30)) == ["opened spring"]
    assert apply_schedule(session, redis, start - dt.timedelta(days=29)) == []
    # Spring closes and summer (same start keywords) opens in the same minute.
    assert apply_schedule(session, redis, start) == ["closed spring", "opened summer"]
    assert get_wave(session, "summer").status == WaveStatus.OPEN
    assert get_wave(session, "missed").status == WaveStatus.DRAFT
    assert apply_schedule(session, redis, start + dt.timedelta(days=14)) == ["closed summer"]
    registry = json.loads(json.dumps({k.decode(): 1 for k in redis.hkeys(keys.WAVES_OPEN)}))
    assert registry == {}
