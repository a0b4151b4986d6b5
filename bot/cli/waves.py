"""`surveybot wave ...`: organizers run survey waves from a terminal."""

from __future__ import annotations

import json

import click

from bot.cli.settings import command_settings, invoked_as
from bot.infra.exceptions import SurveybotError


def _context():
    """Settings, a database session and Redis, or a clear error."""
    from redis import Redis
    from sqlmodel import Session

    from bot.infra.db import get_engine

    settings = command_settings("DATABASE_URL", "REDIS_URL", purpose="waves live in both")
    return settings, Session(get_engine(settings.DATABASE_URL)), Redis.from_url(settings.REDIS_URL)


def _keywords(values: tuple[str, ...]) -> dict[str, list[str]] | None:
    """--keyword es=ENCUESTA --keyword en=SURVEY,POLL -> {"es": [...], "en": [...]}."""
    if not values:
        return None
    out: dict[str, list[str]] = {}
    for value in values:
        lang, _, words = value.partition("=")
        if not lang or not words:
            raise click.BadParameter(f"{value!r}: use LANG=WORD[,WORD...], e.g. es=ENCUESTA")
        out.setdefault(lang.strip(), []).extend(w.strip() for w in words.split(",") if w.strip())
    return out


def _describe(wave, session) -> dict:  # noqa: ANN001
    """A wave's settings, and its counts as its latest release published them (never the live
    counters, which move while a person texts: README, privacy)."""
    from bot.releases.releases import latest_release

    release = latest_release(session, wave.name)
    published = (release.content or {}).get("wave", {}) if release else {}
    return {
        "name": wave.name,
        "title": wave.title,
        "status": wave.status,
        "default": wave.is_default,
        "start_keywords": wave.start_keywords,
        "questionnaire": wave.questionnaire_digest or "(snapshot taken when it opens)",
        "opens_at": wave.opens_at.isoformat() if wave.opens_at else None,
        "closes_at": wave.closes_at.isoformat() if wave.closes_at else None,
        "release": f"#{release.number} of {release.made_on}" if release else None,
        "started": published.get("started"),  # None: none released, or fewer than the minimum
        "completed": published.get("completed"),
    }


def _shown(value: int | None) -> str:
    return "-" if value is None else str(value)


@click.group("wave")
def wave_group() -> None:
    """Survey waves: create, open, close, list, show (and invite)."""


@wave_group.command("create")
@click.argument("name")
@click.option("--title", default="", help="A human title, e.g. 'Summer 2026'.")
@click.option(
    "--survey",
    "survey_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="Questionnaire file (default: the community safety survey).",
)
@click.option(
    "--keyword",
    "keywords",
    multiple=True,
    help="Start keywords, LANG=WORD[,WORD]; repeat per language.",
)
@click.option("--default", "default", is_flag=True, help="Plain texts go to this wave.")
@click.option(
    "--opens", type=click.DateTime(), default=None, help="Opens by itself at this time (UTC)."
)
@click.option(
    "--closes", type=click.DateTime(), default=None, help="Closes by itself at this time (UTC)."
)
def wave_create(name, title, survey_file, keywords, default, opens, closes) -> None:  # noqa: ANN001
    """Create a draft wave."""
    from bot.outreach.waves import create_wave

    _, session, _ = _context()
    with session:
        try:
            wave = create_wave(
                session,
                name=name,
                title=title,
                survey_file=survey_file,
                start_keywords=_keywords(keywords),
                default=default,
                opens_at=opens,
                closes_at=closes,
            )
        except SurveybotError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(
            f"wave {wave.name} created (draft); open it with: {invoked_as()} wave open {name}"
        )


@wave_group.command("open")
@click.argument("name")
def wave_open(name: str) -> None:
    """Open a draft wave: snapshot its questionnaire and answer its texts."""
    from bot.outreach.waves import open_wave

    settings, session, redis = _context()
    with session:
        try:
            wave = open_wave(session, redis, name, allow_placeholders=settings.allows_placeholders)
        except SurveybotError as exc:
            raise click.ClickException(str(exc)) from exc
        default = " (the default for plain texts)" if wave.is_default else ""
        click.echo(f"wave {wave.name} is open{default}")


@wave_group.command("close")
@click.argument("name")
def wave_close(name: str) -> None:
    """Close an open wave: no new answers; its answers and aggregates stay."""
    from bot.outreach.waves import close_wave

    _, session, redis = _context()
    with session:
        try:
            dropped = close_wave(session, redis, name)
        except SurveybotError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"wave {name} is closed; {dropped} 'already answered' markers deleted")


@wave_group.command("list")
def wave_list() -> None:
    """Every wave with its status."""
    from bot.outreach.waves import list_waves

    _, session, _redis = _context()
    with session:
        waves = list_waves(session)
        if not waves:
            click.echo(f"no waves yet: {invoked_as()} wave create NAME")
        for wave in waves:
            info = _describe(wave, session)
            flag = " default" if wave.is_default else ""
            click.echo(
                f"{wave.name:24} {wave.status:7}{flag:8} started {_shown(info['started']):>6}"
                f"  completed {_shown(info['completed']):>6}  {wave.title}"
            )
        click.echo("(counts from each wave's latest release; - : none yet, or fewer than 5)")


@wave_group.command("show")
@click.argument("name")
def wave_show(name: str) -> None:
    """One wave's settings and counts, as JSON."""
    from bot.outreach.waves import get_wave

    _, session, _redis = _context()
    with session:
        try:
            wave = get_wave(session, name)
        except SurveybotError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(json.dumps(_describe(wave, session), indent=2, default=str))


def _attach_invite() -> None:
    from bot.cli.invite import invite_command, remind_command
    from bot.cli.outreach import outreach_command

    wave_group.add_command(invite_command)
    wave_group.add_command(remind_command)
    wave_group.add_command(outreach_command)


_attach_invite()
