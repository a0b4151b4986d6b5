"""`surveybot whatsapp buttons ...`: the quick-reply contents WhatsApp shows as buttons.

The contents are made at Twilio once, here, through the Content API: never on the request
path (bot/records/quick_replies.py says how they are used).
"""

from __future__ import annotations

import click

from bot.cli.settings import command_settings


@click.group("whatsapp")
def whatsapp_group() -> None:
    """WhatsApp: the quick-reply buttons of short choice questions."""


@whatsapp_group.group("buttons")
def buttons_group() -> None:
    """Quick-reply buttons (Twilio's twilio/quick-reply contents)."""


def _questionnaires(settings, redis):  # noqa: ANN001, ANN202
    """The questionnaire file's, and every open wave's."""
    from bot.core.questionnaire import load_questionnaire
    from bot.infra import keys
    from bot.outreach.waves import RegistryCache

    found = [load_questionnaire(settings.SURVEY_FILE or None)]
    version = redis.get(keys.WAVES_VERSION)
    if version is not None:
        registry = RegistryCache().get(redis, version)
        found.extend(wave.questionnaire for wave in registry.waves.values())
    return found


@buttons_group.command("sync")
@click.option("--dry-run", is_flag=True, help="Say what would be made at Twilio; make nothing.")
def buttons_sync(dry_run: bool) -> None:
    """Make at Twilio the quick-reply content of every choice question of at most three short
    options, in each language, for the questionnaire file and every open wave; keep their
    ContentSids in Redis. Run it again after editing a question: it makes only what is new."""
    from redis import Redis

    from bot.records.quick_replies import sync

    needed = ("REDIS_URL",) if dry_run else ("REDIS_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
    settings = command_settings(*needed, purpose="the contents are made at Twilio, kept in Redis")
    redis = Redis.from_url(settings.REDIS_URL)
    try:
        done = sync(settings, redis, _questionnaires(settings, redis), dry_run=dry_run)
    finally:
        redis.close()
    for item in done:
        c = item.content
        titles = " | ".join(title for _, title in c.buttons)
        where = item.sid or (f"Twilio said {item.failure}" if item.failure else "")
        click.echo(f"{item.outcome:<12}  {c.question} ({c.lang}): {titles}  {where}".rstrip())
    if not done:
        click.echo("no question has buttons (a single choice of at most 3 options, short labels)")
    if any(item.outcome == "failed" for item in done):
        raise click.ClickException("some contents were not made; run the command again")
