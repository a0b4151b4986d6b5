"""`surveybot wave outreach WAVE`: a wave's sending window, daily cap and reminders (changed
with options), and how its invitations and reminders are going, with an estimated end."""

from __future__ import annotations

import click

from bot.cli.settings import command_settings
from bot.infra.exceptions import SurveybotError


@click.command("outreach")
@click.argument("wave")
@click.option("--window", default=None, help="Local hours, e.g. 10:00-19:00 ('' for SEND_WINDOW).")
@click.option("--daily-cap", type=int, default=None, help="This wave's texts a day (0: none).")
@click.option("--remind-after", type=int, default=None, help="Days from the last text.")
@click.option("--max-reminders", type=int, default=None, help="Reminders per person.")
def outreach_command(
    wave: str,
    window: str | None,
    daily_cap: int | None,
    remind_after: int | None,
    max_reminders: int | None,
) -> None:
    """Show (or change) WAVE's outreach settings, and its invitations' progress."""
    from redis import Redis

    from bot.infra.db import session_scope
    from bot.outreach import pacing
    from bot.outreach.progress import outreach_lines
    from bot.outreach.wave_settings import set_outreach
    from bot.outreach.waves import get_wave

    settings = command_settings("DATABASE_URL", "REDIS_URL", purpose="waves live in both")
    redis = Redis.from_url(settings.REDIS_URL)
    try:
        with session_scope(settings.DATABASE_URL) as session:
            if any(v is not None for v in (window, daily_cap, remind_after, max_reminders)):
                record = set_outreach(
                    session,
                    redis,
                    wave,
                    window=window,
                    daily_cap=daily_cap,
                    remind_after_days=remind_after,
                    max_reminders=max_reminders,
                )
            else:
                record = get_wave(session, wave)
            entry = {"outreach": pacing.outreach_entry(record)}
        outreach = pacing.wave_outreach(settings, entry)
        cap = f"{outreach.wave_cap} a day" if outreach.wave_cap else "none"
        sender = f"{outreach.sender_cap} a day" if outreach.sender_cap else "none"
        click.echo(f"wave {wave}:")
        click.echo(f"  sending window: {outreach.window} in each recipient's local time")
        click.echo(f"  daily cap: {cap} (sender, all waves: {sender})")
        click.echo(
            f"  reminders: up to {outreach.max_reminders}, each {outreach.remind_after_days} "
            "days or more after the last text"
        )
        for line in outreach_lines(settings, redis, wave):
            click.echo(f"  {line}")
    except SurveybotError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        redis.close()
