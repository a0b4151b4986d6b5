"""`surveybot report build|preview|send` on stored responses: published numbers only."""

from __future__ import annotations

import datetime as dt
import email
import json
import random
import re
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from bot.cli import main
from bot.infra import keys
from bot.releases.aggregates import refresh_wave
from bot.releases.cellkey import MAX_NOISE
from bot.releases.releases import make_release
from bot.releases.report import load_raw_report
from tests.factories import random_answers, response_payload, store_all
from tests.test_aggregation import open_wave_without_other_reason
from tests.test_weekly import make_wave
from workers import context

WEEK = "2026-W47"  # Nov 16-22, 2026
IN_WEEK = dt.date(2026, 11, 18)
WEEK_BEFORE = dt.date(2026, 11, 11)
WEEK_AFTER = dt.date(2026, 11, 25)  # the report runs once the week is complete


def store_week(q, day, count, seed, languages=("en", "es", "es"), wave="default"):
    rng = random.Random(seed)
    payloads = []
    for _ in range(count):
        answers = random_answers(q, rng, skip_rate=0.05)
        payloads.append(
            response_payload(q, answers, language=rng.choice(languages), day=day, wave=wave)
        )
    store_all(context.settings().DATABASE_URL, payloads)


@pytest.fixture
def stored(app, redis, monkeypatch, clock):
    """Responses of two weeks stored and aggregated; the CLI's environment pointed at them; the
    calendar in the week after (waves a test opens meanwhile open in WEEK, see `summer`)."""
    state = app.extensions["surveybot"]
    q = state.questionnaire
    store_week(q, IN_WEEK, 150, seed=47)
    store_week(q, IN_WEEK, 3, seed=1, languages=("ht",))  # a small group: never published
    store_week(q, WEEK_BEFORE, 120, seed=46)
    refresh_wave(state.redis, state.settings.DATABASE_URL, q, "default")
    redis.hset(
        keys.wave_stats("default"), mapping={f"started:{WEEK}": 190, "started:2026-W46": 150}
    )
    make_release(state.settings, redis, "default", min_new=1)  # every report reads releases
    monkeypatch.setenv("SURVEYBOT_ENV", "test")
    monkeypatch.setenv("REDIS_URL", state.settings.REDIS_URL)
    monkeypatch.setenv("DATABASE_URL", state.settings.DATABASE_URL)
    for name in ("REPORT_FROM", "REPORT_RECIPIENTS", "SMTP_URL", "REPORT_LANGUAGE", "SURVEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEFAULT_WAVE", "default")
    clock.set(WEEK_AFTER)
    return state


def counts_in(node):
    """Every count of a report (numbers anywhere in it), with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "suppression_min":
                continue
            for path, count in counts_in(value):
                yield (key, *path), count
    elif isinstance(node, bool):
        return
    elif isinstance(node, int) or node is None:
        yield (), node


def test_build_json_prints_the_published_report(stored):
    result = CliRunner().invoke(main, ["report", "build", "--json", "--week", WEEK])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {
        "survey",
        "wave",
        "period",
        "suppression_min",
        "started",
        "completed",
        "by_language",
        "questions",
        "crosstabs",
    }
    assert report["survey"] == "community_safety"
    assert report["wave"] == "default"
    assert report["period"] == {"start": "2026-11-16", "end": "2026-11-22"}
    assert report["suppression_min"] == 5
    assert abs(report["started"] - 190) <= MAX_NOISE  # perturbed, as every published count
    assert report["by_language"]["ht"] is None  # 3 respondents
    assert report["questions"]["afraid_to_seek_help"]["type"] == "choice"
    for key in ("status", "years_in_us", "knows_deported", "language"):
        assert f"afraid_to_seek_help|{key}" in report["crosstabs"]
        assert f"fear_reasons|{key}" in report["crosstabs"]

    # every published count is within MAX_NOISE of the exact count (its cell key's noise), and
    # none below the minimum is shown
    raw = load_raw_report(
        stored.settings, stored.redis, wave="default", week=WEEK, q=stored.questionnaire
    )
    assert raw["completed"] == 153
    published, exact = dict(counts_in(report)), dict(counts_in(raw))
    assert published.keys() == exact.keys()
    assert None in published.values()
    for path, count in published.items():
        if 0 < exact[path] < 5 - MAX_NOISE:
            assert count is None, path
        elif count is not None:
            assert abs(count - exact[path]) <= MAX_NOISE, path
    assert [n for n in published.values() if n is not None and 0 < n < 5] == []


def test_build_defaults_to_the_last_complete_week_and_needs_json(stored):
    result = CliRunner().invoke(main, ["report", "build", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["wave"] == "default"
    assert report["period"] == {"start": "2026-11-16", "end": "2026-11-22"}  # WEEK
    assert abs(report["completed"] - 153) <= MAX_NOISE
    result = CliRunner().invoke(main, ["report", "build", "--week", WEEK])
    assert result.exit_code == 2
    assert "--json" in result.output


def test_build_explains_missing_settings_and_bad_weeks(stored, monkeypatch):
    result = CliRunner().invoke(main, ["report", "build", "--json", "--week", "2026-47"])
    assert result.exit_code == 2
    assert "ISO week" in result.output
    monkeypatch.setenv("DATABASE_URL", "")
    result = CliRunner().invoke(main, ["report", "build", "--json", "--week", WEEK])
    assert result.exit_code == 1
    assert "DATABASE_URL is not set" in result.output
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///unused.db")
    result = CliRunner().invoke(main, ["report", "build", "--json", "--week", WEEK])
    assert result.exit_code == 1
    assert "REDIS_URL is not set" in result.output


def test_preview_writes_html_text_and_the_full_message(stored, tmp_path, monkeypatch):
    out = tmp_path / "preview"
    result = CliRunner().invoke(main, ["report", "preview", "--week", WEEK, "--out", str(out)])
    assert result.exit_code == 0, result.output
    paths = result.output.split()
    assert paths == [str(out / n) for n in ("report.html", "report.txt", "report.eml")]
    html = (out / "report.html").read_text(encoding="utf-8")
    text = (out / "report.txt").read_text(encoding="utf-8")
    assert "Community safety survey — week of Nov 16–22, 2026" in html
    assert "completed the survey this week" in text
    assert re.search(r"^Kreyòl +not shown +—$", text, re.MULTILINE)  # 3 respondents
    assert "+" in text and "pts" in text  # changes against the week before (W46)

    message = email.message_from_bytes((out / "report.eml").read_bytes(), policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Community safety survey — week of Nov 16–22, 2026"
    assert message["From"] == "surveybot@example.invalid"  # placeholders: nothing configured
    assert message["To"] == "coalition@example.invalid"
    plain, rich = message.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert rich.get_content_type() == "text/html"
    assert plain.get_content().replace("\r\n", "\n") == text
    assert rich.get_content().replace("\r\n", "\n") == html


def test_preview_uses_the_configured_sender_recipients_and_language(stored, tmp_path, monkeypatch):
    monkeypatch.setenv("REPORT_FROM", "Encuesta <survey@coalition.example.org>")
    monkeypatch.setenv("REPORT_RECIPIENTS", "a@partner.example.org, b@partner.example.org")
    monkeypatch.setenv("REPORT_LANGUAGE", "es")
    result = CliRunner().invoke(main, ["report", "preview", "--week", WEEK, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    message = email.message_from_bytes(
        (tmp_path / "report.eml").read_bytes(), policy=policy.default
    )
    assert message["From"] == "Encuesta <survey@coalition.example.org>"
    assert message["To"] == "a@partner.example.org, b@partner.example.org"
    assert message["Subject"].startswith("Encuesta de seguridad comunitaria")
    assert "no se muestra" in (tmp_path / "report.txt").read_text(encoding="utf-8")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def inbox(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{port}")
    yield handler
    controller.stop()


def test_send_mails_the_week_once(stored, inbox, monkeypatch):
    monkeypatch.setenv("REPORT_FROM", "survey@coalition.example.org")
    monkeypatch.setenv("REPORT_RECIPIENTS", "coalition@partner.example.org")
    runner = CliRunner()
    result = runner.invoke(main, ["report", "send", "--week", WEEK, "--to", "me@example.org"])
    assert result.exit_code == 0, result.output
    assert "sent" in result.output
    assert inbox.messages[-1][0] == ["me@example.org"]

    result = runner.invoke(main, ["report", "send", "--week", WEEK])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(": sent")
    assert inbox.messages[-1][0] == ["coalition@partner.example.org"]
    message = email.message_from_bytes(inbox.messages[-1][1], policy=policy.default)
    plain, _ = message.iter_parts()
    assert "completed the survey this week" in plain.get_content()

    result = runner.invoke(main, ["report", "send", "--week", WEEK])
    assert result.exit_code == 0, result.output
    assert "already sent" in result.output
    assert len(inbox.messages) == 2


def test_send_explains_a_missing_smtp_url(stored, monkeypatch):
    monkeypatch.setenv("REPORT_RECIPIENTS", "coalition@partner.example.org")
    result = CliRunner().invoke(main, ["report", "send", "--week", WEEK])
    assert result.exit_code == 1
    assert "SMTP_URL" in result.output


# ---------------------------------------------------------------------------------- waves


@pytest.fixture
def summer(stored, db, clock):
    """A wave opened in WEEK with its own frozen questionnaire and a week of answers."""
    clock.set(IN_WEEK)
    open_wave_without_other_reason(db, stored.redis, "summer")
    clock.set(WEEK_AFTER)
    store_week(stored.questionnaire, IN_WEEK, 60, seed=9, wave="summer")
    refresh_wave(stored.redis, stored.settings.DATABASE_URL, stored.questionnaire, "summer")
    make_release(stored.settings, stored.redis, "summer", min_new=1)
    return "summer"


def test_without_wave_the_commands_use_the_wave_open_that_week(summer, tmp_path):
    result = CliRunner().invoke(main, ["report", "build", "--json", "--week", WEEK])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    # The wave, read with the questionnaire it froze when it opened (not the file's).
    assert (report["wave"], report["survey"]) == ("summer", "community_safety_v1")
    assert abs(report["completed"] - 60) <= MAX_NOISE
    assert "other" not in report["questions"]["fear_reasons"]["counts"]
    result = CliRunner().invoke(main, ["report", "preview", "--week", WEEK, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.txt").read_text(encoding="utf-8")
    assert "Wave: summer" in text
    assert "Police working with ICE" in text and "Police work with ICE" not in text


def test_with_several_waves_open_build_and_preview_ask_which(summer, stored, db, tmp_path):
    make_wave(db, stored.redis, "autumn")
    for command in (["build", "--json"], ["preview", "--out", str(tmp_path)]):
        result = CliRunner().invoke(main, ["report", *command, "--week", WEEK])
        assert result.exit_code == 2
        assert "2 waves were open during 2026-W47 (autumn, summer)" in result.output
        assert "--wave" in result.output
    result = CliRunner().invoke(
        main, ["report", "build", "--json", "--week", WEEK, "--wave", "summer"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["wave"] == "summer"


def test_a_week_when_no_wave_was_open_needs_wave(stored, db):
    make_wave(db, stored.redis, "spring", status="draft")
    result = CliRunner().invoke(main, ["report", "build", "--json", "--week", WEEK])
    assert result.exit_code == 1
    assert "no wave was open during 2026-W47" in result.output
    result = CliRunner().invoke(
        main, ["report", "build", "--json", "--week", WEEK, "--wave", "default"]
    )
    assert result.exit_code == 0, result.output
    assert abs(json.loads(result.output)["completed"] - 153) <= MAX_NOISE


def test_send_without_wave_sends_each_open_waves_report(summer, stored, db, inbox, monkeypatch):
    monkeypatch.setenv("REPORT_FROM", "survey@coalition.example.org")
    monkeypatch.setenv("REPORT_RECIPIENTS", "coalition@partner.example.org")
    make_wave(db, stored.redis, "autumn")
    runner = CliRunner()
    result = runner.invoke(main, ["report", "send", "--week", WEEK])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"report of wave autumn, week {WEEK}: sent",
        f"report of wave summer, week {WEEK}: sent",
    ]
    assert len(inbox.messages) == 2
    # Sending again on purpose names one wave.
    result = runner.invoke(main, ["report", "send", "--week", WEEK, "--force"])
    assert result.exit_code == 2
    assert "pass --wave" in result.output
    result = runner.invoke(main, ["report", "send", "--week", WEEK, "--force", "--wave", "summer"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("summer, week 2026-W47: sent")
    assert len(inbox.messages) == 3
