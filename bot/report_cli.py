"""`surveybot report ...`: the published report as JSON, an email preview, and sending it.

Every command shows published (small-cell suppressed) numbers only; there is deliberately no
way to print the raw counts.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from bot.exceptions import ConfigError, SurveybotError

PLACEHOLDER_FROM = "surveybot@example.invalid"
PLACEHOLDER_TO = ("coalition@example.invalid",)


def _settings():
    from bot.config import load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _redis(settings):
    from redis import Redis

    if not settings.REDIS_URL:
        raise click.ClickException("REDIS_URL is not set (the report reads the wave's counters)")
    return Redis.from_url(settings.REDIS_URL)


def _need_database(settings) -> None:
    if not settings.DATABASE_URL:
        raise click.ClickException("DATABASE_URL is not set (the report reads the aggregates)")


def _week(week: str | None) -> str:
    from bot.weeks import last_complete_week, parse_week

    if week is None:
        return last_complete_week(dt.date.today())
    try:
        parse_week(week)
    except SurveybotError as exc:
        raise click.BadParameter(str(exc), param_hint="--week") from exc
    return week.strip()


def published_reports(
    settings, redis, *, wave: str, week: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The published report of a week and of the week before (for the changes)."""
    from bot.report import load_raw_report, publish
    from bot.weeks import previous_week

    current = publish(load_raw_report(settings, redis, wave=wave, week=week))
    previous = publish(load_raw_report(settings, redis, wave=wave, week=previous_week(week)))
    return current, previous


def _load(wave: str | None, week: str | None):
    settings = _settings()
    _need_database(settings)
    redis = _redis(settings)
    wave = wave or settings.DEFAULT_WAVE
    week = _week(week)
    try:
        current, previous = published_reports(settings, redis, wave=wave, week=week)
    except SurveybotError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        redis.close()
    return settings, current, previous


_wave_option = click.option(
    "--wave", default=None, help="The wave to report on (default: DEFAULT_WAVE)."
)
_week_option = click.option(
    "--week",
    default=None,
    metavar="YYYY-Www",
    help="The ISO week to report on (default: the last complete week).",
)


@click.group("report")
def report_group() -> None:
    """The weekly aggregate report (published numbers only: small cells suppressed)."""


@report_group.command("build")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (required).")
@_wave_option
@_week_option
def report_build(as_json: bool, wave: str | None, week: str | None) -> None:
    """Print a week's published report (a suppressed count is null)."""
    if not as_json:
        raise click.UsageError("JSON is the only output of `report build`: pass --json")
    _, current, _ = _load(wave, week)
    click.echo(json.dumps(current, indent=2, ensure_ascii=False))


@report_group.command("preview")
@_wave_option
@_week_option
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write report.html, report.txt and report.eml into.",
)
@click.option(
    "--language",
    type=click.Choice(["en", "es"]),
    default=None,
    help="Language of the email (default: REPORT_LANGUAGE).",
)
def report_preview(wave: str | None, week: str | None, out: Path, language: str | None) -> None:
    """Write the week's email as it would be sent: HTML, plain text and the full message."""
    from bot.email_report import build_message, render_report
    from bot.questionnaire import load_questionnaire

    settings, current, previous = _load(wave, week)
    q = load_questionnaire(settings.SURVEY_FILE or None)
    rendered = render_report(current, previous, q, language=language or settings.REPORT_LANGUAGE)
    message = build_message(
        rendered,
        sender=settings.REPORT_FROM or PLACEHOLDER_FROM,
        recipients=list(settings.REPORT_RECIPIENTS or PLACEHOLDER_TO),
    )
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "report.html": rendered.html,
        "report.txt": rendered.text,
    }
    for name, text in paths.items():
        (out / name).write_text(text, encoding="utf-8")
    (out / "report.eml").write_bytes(message.as_bytes())
    for name in (*paths, "report.eml"):
        click.echo(str(out / name))


@report_group.command("send")
@_wave_option
@_week_option
@click.option(
    "--to",
    "to",
    multiple=True,
    metavar="ADDR",
    help="Send to this address instead of REPORT_RECIPIENTS (repeatable).",
)
@click.option("--force", is_flag=True, help="Send even if this week's report was already sent.")
def report_send(wave: str | None, week: str | None, to: tuple[str, ...], force: bool) -> None:
    """Email a week's report to the coalition now (once per week unless --force)."""
    from bot.exceptions import MailError
    from workers.weekly import send_week_report

    settings = _settings()
    _need_database(settings)
    redis = _redis(settings)
    wave = wave or settings.DEFAULT_WAVE
    week = _week(week)
    try:
        status = send_week_report(
            settings, redis, wave=wave, week=week, recipients=list(to) or None, force=force
        )
    except (MailError, SurveybotError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        redis.close()
    click.echo(f"report of wave {wave}, week {week}: {status}")
