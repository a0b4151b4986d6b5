"""`surveybot report ...`: the published report as JSON, an email preview, and sending it.

Every command shows the figures of the wave's latest release (bot/releases/releases.py) only:
published (protected) numbers that stand still between releases; there is deliberately no way
to print the raw or live counts.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from bot.cli.settings import command_settings
from bot.infra import clock
from bot.infra.exceptions import SurveybotError

PLACEHOLDER_FROM = "surveybot@example.invalid"
PLACEHOLDER_TO = ("coalition@example.invalid",)


def _week(week: str | None) -> str:
    from bot.infra.weeks import iso_week, last_complete_week, parse_week

    if week is None or week.strip().lower() == "last":
        return last_complete_week(clock.today())
    if week.strip().lower() == "this":
        return iso_week(clock.today())
    try:
        parse_week(week)
    except SurveybotError as exc:
        raise click.BadParameter(str(exc), param_hint="--week") from exc
    return week.strip()


def known_wave(settings, name: str) -> None:  # noqa: ANN001
    """A ClickException unless `name` is a wave (or the implicit DEFAULT_WAVE)."""
    from sqlmodel import Session

    from bot.infra.db import get_engine
    from bot.outreach.waves import list_waves

    if name == settings.DEFAULT_WAVE:
        return  # the implicit wave: every answer before waves existed
    with Session(get_engine(settings.DATABASE_URL)) as session:
        names = [w.name for w in list_waves(session)]
    if name not in names:
        known = f" (waves: {', '.join(sorted(names))})" if names else " (no wave exists yet)"
        raise click.ClickException(f"no wave named {name!r}{known}")


def _context(wave: str | None, week: str | None, command: str):
    """Settings, Redis, the ISO week, and the waves to report on: `wave` if given, else each
    wave open during the week (see `bot.releases.weekly.report_waves`). Without --week, a week
    with nothing to report stops with where the answers are (bot/cli/report_hint.py)."""
    from redis import Redis

    from bot.cli.report_hint import nothing_to_report
    from bot.releases.weekly import report_waves

    settings = command_settings(
        "DATABASE_URL", "REDIS_URL", purpose="the report reads the aggregates and counters"
    )
    chosen_week = _week(week)
    if wave:
        known_wave(settings, wave)
    waves = [wave] if wave else report_waves(settings, chosen_week)
    if week is None:
        hint = nothing_to_report(settings, chosen_week, waves, command=command)
        if hint:
            raise click.ClickException(hint)
    if not waves:
        raise click.ClickException(f"no wave was open during {chosen_week}: pass --wave")
    return settings, Redis.from_url(settings.REDIS_URL), chosen_week, waves


def _one_wave(waves: list[str], week: str) -> str:
    if len(waves) > 1:
        raise click.UsageError(
            f"{len(waves)} waves were open during {week} ({', '.join(waves)}): "
            "pass --wave to choose one"
        )
    return waves[0]


_wave_option = click.option(
    "--wave",
    default=None,
    help=(
        "The wave to report on (default: the wave open during the week, required if several "
        "were; DEFAULT_WAVE if no wave was ever created)."
    ),
)
_send_wave_option = click.option(
    "--wave",
    default=None,
    help=(
        "The wave to send the report of (default: each wave open during the week, one email "
        "each; DEFAULT_WAVE if no wave was ever created)."
    ),
)
_week_option = click.option(
    "--week",
    default=None,
    metavar="YYYY-Www",
    help="The ISO week to report on, or 'this' (the week so far) or 'last' (the default: the "
    "last complete week).",
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
    from bot.releases.releases import load_latest, released_reports

    settings, redis, week, waves = _context(wave, week, "report build --json")
    try:
        wave = _one_wave(waves, week)
        release = load_latest(settings, wave)
        if release is None:
            raise click.ClickException(
                f"wave {wave} has no release yet: figures are published as releases, made "
                f"daily once {settings.RELEASE_MIN_NEW} responses are stored "
                f"(RELEASE_MIN_NEW); `surveybot release make --wave {wave}` makes one now"
            )
        report, _, _ = released_reports(release, week)
        if report is None:
            raise click.ClickException(
                f"release {release.number} of wave {wave} (made on {release.made_on}) has no "
                f"figures for {week}: the next release will, once {settings.RELEASE_MIN_NEW} "
                "new responses are stored"
            )
    except SurveybotError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        redis.close()
    click.echo(json.dumps(report, indent=2, ensure_ascii=False))


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
    from bot.releases.weekly import compose

    command = f"report preview --out {shlex.quote(str(out))}"
    settings, redis, week, waves = _context(wave, week, command)
    try:
        message = compose(
            settings,
            redis,
            wave=_one_wave(waves, week),
            week=week,
            recipients=list(settings.REPORT_RECIPIENTS or PLACEHOLDER_TO),
            sender=settings.REPORT_FROM or PLACEHOLDER_FROM,
            language=language,
        )
    except SurveybotError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        redis.close()
    out.mkdir(parents=True, exist_ok=True)
    paths = {  # the very parts of the message
        "report.html": message.get_body(("html",)).get_content(),
        "report.txt": message.get_body(("plain",)).get_content(),
    }
    for name, text in paths.items():
        (out / name).write_text(text, encoding="utf-8")
    (out / "report.eml").write_bytes(message.as_bytes())
    for name in (*paths, "report.eml"):
        click.echo(str(out / name))


@report_group.command("send")
@_send_wave_option
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
    """Email a week's report to the coalition now (once per wave and week unless --force).

    Without --wave, the report of each wave open during the week is sent, as the weekly job
    does (--force then needs --wave if several waves were open)."""
    from bot.infra.exceptions import MailError
    from bot.releases.weekly import send_week_report

    settings, redis, week, waves = _context(
        wave, week, "report send" + "".join(f" --to {shlex.quote(a)}" for a in to)
    )
    failed = []
    try:
        if force and len(waves) > 1:
            raise click.UsageError(
                f"{len(waves)} waves were open during {week} ({', '.join(waves)}): "
                "--force sends again, so pass --wave to say which"
            )
        for name in waves:
            try:
                status = send_week_report(
                    settings, redis, wave=name, week=week, recipients=list(to) or None, force=force
                )
            except MailError as exc:
                status = f"not sent ({exc})"
                failed.append(name)
            except SurveybotError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"report of wave {name}, week {week}: {status}")
    finally:
        redis.close()
    if failed:
        raise click.ClickException(f"not sent for wave(s) {', '.join(failed)}")
