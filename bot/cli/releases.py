"""`surveybot release ...`: make a wave's release now, and list the releases made.

Every figure the dashboard, the aggregate CSV, `report build/preview` and the email show comes
from a release (bot/releases/releases.py). The cron process makes them daily at RELEASE_HOUR;
`release make` makes one at once, under the same rule: only when at least RELEASE_MIN_NEW
responses were stored since the wave's previous release.
"""

from __future__ import annotations

import click

from bot.cli.settings import command_settings


@click.group("release")
def release_group() -> None:
    """Releases: the snapshots of published figures every report and page shows."""


@release_group.command("make")
@click.option(
    "--wave",
    default=None,
    help="The wave to make a release of (default: every wave that has enough new responses).",
)
def release_make(wave: str | None) -> None:
    """Make the next release now, of each wave with RELEASE_MIN_NEW new responses."""
    from redis import Redis

    from bot.cli.reports import known_wave
    from bot.infra.exceptions import SurveybotError
    from bot.releases.releases import Outcome, make_release, release_waves

    settings = command_settings(
        "DATABASE_URL", "REDIS_URL", purpose="a release reads the stored responses and counters"
    )
    if wave:
        known_wave(settings, wave)
    redis = Redis.from_url(settings.REDIS_URL)
    try:
        for name in [wave] if wave else release_waves(settings):
            try:
                outcome, release = make_release(settings, redis, name)
            except SurveybotError as exc:
                raise click.ClickException(str(exc)) from exc
            if outcome is Outcome.MADE:
                click.echo(
                    f"wave {name}: release {release.number} made on {release.made_on}, "
                    f"covering {release.responses} responses"
                )
            elif outcome is Outcome.TOO_FEW:
                since = f"since release {release.number}" if release else "yet"
                click.echo(
                    f"wave {name}: no release made: fewer than {settings.RELEASE_MIN_NEW} "
                    f"new responses {since} (RELEASE_MIN_NEW)"
                )
            else:
                click.echo(f"wave {name}: {outcome.value}")
    finally:
        redis.close()


@release_group.command("list")
@click.option("--wave", required=True, help="The wave whose releases to list.")
def release_list(wave: str) -> None:
    """The wave's releases: number, the day it was made and how many responses it covers."""
    from sqlmodel import Session, col, select

    from bot.cli.reports import known_wave
    from bot.infra.db import get_engine
    from bot.infra.models import Release

    settings = command_settings("DATABASE_URL", purpose="the releases are in the database")
    known_wave(settings, wave)
    with Session(get_engine(settings.DATABASE_URL)) as session:
        rows = session.exec(
            select(Release.number, Release.made_on, Release.responses)
            .where(Release.wave == wave)
            .order_by(col(Release.number))
        ).all()
    if not rows:
        click.echo(f"wave {wave}: no release yet")
    for number, made_on, responses in rows:
        click.echo(f"wave {wave}: release {number}, made on {made_on}, {responses} responses")
