"""Releases: every view reads them, they are made only after RELEASE_MIN_NEW new responses, and
a viewer who saves every page after each completion learns nothing until the next one."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

from click.testing import CliRunner
from sqlmodel import Session, select

from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.models import Release
from bot.releases.cellkey import MAX_NOISE
from bot.releases.releases import Outcome, make_release, make_releases
from tests.dashboard_utils import signed_in
from tests.factories import random_answers, response_payload
from tests.test_dashboard import make_wave
from workers.storage import store_response


def store(app, count, *, seed=1, wave="w1"):
    q = app.extensions["surveybot"].questionnaire
    rng = random.Random(seed)
    for _ in range(count):
        answers = random_answers(q, rng, skip_rate=0.05)
        store_response(response_payload(q, answers, language=rng.choice(["en", "es"]), wave=wave))


def releases(app, wave="w1"):
    with Session(get_engine(app.extensions["surveybot"].settings.DATABASE_URL)) as session:
        return list(session.exec(select(Release).where(Release.wave == wave)))


def test_a_release_is_made_only_after_release_min_new_new_responses(app):
    s = app.extensions["surveybot"]
    make_wave(app)
    store(app, 19)
    assert make_release(s.settings, s.redis, "w1")[0] is Outcome.TOO_FEW  # default 20
    store(app, 1, seed=2)
    outcome, release = make_release(s.settings, s.redis, "w1")
    assert outcome is Outcome.MADE
    assert (release.number, release.responses, release.made_on) == (1, 20, dt.date(2026, 11, 18))
    # Not twice for the same data, nor for fewer new responses than the minimum.
    assert make_release(s.settings, s.redis, "w1")[0] is Outcome.TOO_FEW
    store(app, 19, seed=3)
    assert make_release(s.settings, s.redis, "w1")[0] is Outcome.TOO_FEW
    store(app, 1, seed=4)
    outcome, release = make_release(s.settings, s.redis, "w1")
    assert (outcome, release.number, release.responses) == (Outcome.MADE, 2, 40)
    assert len(releases(app)) == 2
    content = release.content
    assert set(content) == {"wave", "weeks", "funnel"}
    assert list(content["weeks"]) == ["2026-W47"]
    # Every published count is perturbed by its cell key: within MAX_NOISE of the truth.
    assert abs(content["wave"]["completed"] - 40) <= MAX_NOISE


def test_figures_stand_still_between_releases(app, redis):
    """A viewer who saves the wave page, the CSV and the report after each completion (and
    while counters move) sees the same bytes until the next release."""
    s = app.extensions["surveybot"]
    make_wave(app)
    store(app, 25)
    redis.hset(keys.wave_stats("w1"), mapping={"started": 30, "started:en": 15})
    assert make_release(s.settings, s.redis, "w1")[0] is Outcome.MADE
    client = signed_in(app, "viewer")
    paths = [
        "/dashboard/waves/w1",
        "/dashboard/waves/w1/aggregates.csv",
        "/dashboard/waves/w1/aggregates.csv?week=2026-W47",
        "/dashboard/waves/w1/report/email?week=2026-W47",
    ]

    def saved():
        return [client.get(path).get_data(as_text=True) for path in paths]

    first = saved()
    assert "release 1 of this wave" in first[0]
    for i in range(19):
        store(app, 1, seed=100 + i)
        redis.hincrby(keys.wave_stats("w1"), "started", 1)
        redis.hincrby(keys.asked_stats("w1"), "status", 1)
        assert saved() == first, f"a figure moved after completion {i + 1}"
    store(app, 1, seed=200)
    assert make_release(s.settings, s.redis, "w1")[0] is Outcome.MADE
    after = saved()
    assert after[0] != first[0] and "release 2 of this wave" in after[0]


def test_no_release_yet_shows_no_figures(app, redis):
    make_wave(app)
    store(app, 5)
    client = signed_in(app, "viewer")
    page = client.get("/dashboard/waves/w1").get_data(as_text=True)
    assert "No release yet" in page and "Answers so far" not in page
    csv_text = client.get("/dashboard/waves/w1/aggregates.csv").get_data(as_text=True)
    assert csv_text.strip().count("\n") == 0  # the header alone


def test_make_releases_covers_every_opened_wave(app):
    s = app.extensions["surveybot"]
    make_wave(app)
    store(app, 20)
    assert make_releases(s.settings, s.redis) == {}  # w1 is a draft: nothing is released
    from bot.outreach.waves import open_wave

    with Session(get_engine(s.settings.DATABASE_URL)) as session:
        open_wave(session, s.redis, "w1", allow_placeholders=True)
    assert make_releases(s.settings, s.redis) == {"w1": "made (release 1)"}
    assert make_releases(s.settings, s.redis) == {"w1": "too few new responses"}


def test_the_release_job_runs_at_release_hour_local_time(app, clock):
    from bot.releases.releases import make_due_releases

    s = app.extensions["surveybot"]
    store(app, 20, wave="default")  # no wave was ever created: the implicit DEFAULT_WAVE
    # RELEASE_HOUR 6 in America/New_York is 11:00 UTC in November.
    assert make_due_releases(s.settings, s.redis, dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC))
    assert releases(app, "default") == []
    made = make_due_releases(s.settings, s.redis, dt.datetime(2026, 11, 18, 11, 0, tzinfo=dt.UTC))
    assert made == {"default": "made (release 1)"}


def test_cron_registers_the_daily_releases(app):
    from workers.releases import make_releases as job
    from workers.releases import register

    class Cron:
        def __init__(self):
            self.registered = []

        def register(self, func, **kwargs):
            self.registered.append((func, kwargs["cron"]))

    cron = Cron()
    expressions = register(cron, app.extensions["surveybot"].settings, "q")
    assert sorted(expressions) == ["0 10 * * *", "0 11 * * *"]  # EDT and EST
    assert {func for func, _ in cron.registered} == {job}
    assert f"{job.__module__}.{job.__name__}" == "workers.releases.make_releases"


def test_cron_config_registers_the_release_job():
    source = (Path(__file__).parent.parent / "workers" / "cron_config.py").read_text()
    assert "releases.register(cron" in source


def test_release_make_cli(app, monkeypatch):
    s = app.extensions["surveybot"]
    monkeypatch.setenv("SURVEYBOT_ENV", "test")
    monkeypatch.setenv("DATABASE_URL", s.settings.DATABASE_URL)
    monkeypatch.setenv("REDIS_URL", s.settings.REDIS_URL)
    from bot.cli import main

    make_wave(app)
    store(app, 3)
    out = CliRunner().invoke(main, ["release", "make", "--wave", "w1"])
    assert out.exit_code == 0, out.output
    assert "no release made: fewer than 20 new responses yet" in out.output
    monkeypatch.setenv("RELEASE_MIN_NEW", "2")
    out = CliRunner().invoke(main, ["release", "make", "--wave", "w1"])
    assert "wave w1: release 1 made on 2026-11-18" in out.output, out.output
    out = CliRunner().invoke(main, ["release", "list", "--wave", "w1"])
    assert "release 1, made on 2026-11-18" in out.output
    assert CliRunner().invoke(main, ["release", "make", "--wave", "nope"]).exit_code != 0
    out = CliRunner().invoke(main, ["report", "build", "--json", "--wave", "w1", "--week", "this"])
    assert json.loads(out.output)["completed"] is None  # 3: too few to show


def test_the_email_shows_the_wave_so_far_a_total_row_and_a_banded_headline():
    from bot.core.questionnaire import load_questionnaire
    from bot.releases.email_report import render_report
    from bot.releases.protection import protect

    q = load_questionnaire(None)
    week = _raw(q, yes=3, no=9, period=(dt.date(2026, 11, 16), dt.date(2026, 11, 22)))
    wave = _raw(q, yes=30, no=20, period=(dt.date(2026, 11, 2), dt.date(2026, 11, 22)))
    published_week, published_wave = protect(week), protect(wave)
    assert published_week["questions"]["afraid_to_seek_help"]["counts"]["yes"] is None
    assert published_week["bands"]["afraid_to_seek_help"] == "fewer_than_half"
    text = " ".join(render_report(published_week, None, q, so_far=published_wave).text.split())
    assert "Fewer than half of respondents said they are afraid" in text
    assert "So far in this wave, 60% of respondents said they are afraid" in text
    assert "Wave so far" in text and "All who answered" in text


def _raw(q, *, yes, no, period):
    from bot.releases.aggregates import Profile
    from bot.releases.report import build_raw_report

    profiles = [
        Profile("2026-W47", "en", {"afraid_to_seek_help": "yes"}, yes),
        Profile("2026-W47", "en", {"afraid_to_seek_help": "no"}, no),
    ]
    return build_raw_report(q, profiles, wave="w1", period=period, started=yes + no, minimum=5)
