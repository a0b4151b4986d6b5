"""`surveybot keys`: the installation's secrets, made and rotated (README: Keys and rotation)."""

from __future__ import annotations

import secrets

import click

from bot.cli.settings import command_settings
from bot.infra.sealing import generate_storage_keys


@click.group("keys")
def keys_group() -> None:
    """Make new secrets and follow a key rotation."""


@keys_group.command("generate")
def keys_generate() -> None:
    """Print fresh secrets in .env form: a storage key pair and a pseudonym key."""
    public, secret = generate_storage_keys()
    click.echo("# The web process needs only the public key; give the secret one to workers.")
    click.echo(f"STORAGE_PUBLIC_KEY={public}")
    click.echo(f"STORAGE_SECRET_KEY={secret}")
    click.echo("# A new pseudonym key (see the README before replacing one in use).")
    click.echo(f"PSEUDONYM_KEY={secrets.token_urlsafe(32)}")


@keys_group.command("status")
def keys_status() -> None:
    """What still depends on each pseudonym key and on old storage keys (during a rotation)."""
    from redis import Redis
    from sqlmodel import Session

    from bot.infra.db import get_engine
    from bot.infra.rotation import key_use
    from bot.infra.sealing import opens_with_current
    from bot.records import inbox

    settings = command_settings("REDIS_URL", "DATABASE_URL", purpose="to count what uses each key")
    redis = Redis.from_url(settings.REDIS_URL)
    try:
        with Session(get_engine(settings.DATABASE_URL)) as session:
            uses = key_use(redis, session, settings)
        sealed = inbox.take(redis, inbox.size(redis))
    finally:
        redis.close()
    for use in uses:
        current = use.version == settings.PSEUDONYM_KEY_VERSION
        state = "current" if current else ("unused: remove it" if use.unused else "still needed")
        click.echo(
            f"pseudonym key {use.version}: {use.redis_keys} Redis keys, "
            f"{use.opt_outs} stored opt-outs, {use.caches} reply caches ({state})"
        )
    if settings.STORAGE_SECRET_KEY or not settings.is_production:
        old = sum(not opens_with_current(settings.storage_secret_key, s) for s in sealed)
        click.echo(
            f"storage inbox: {len(sealed)} sealed records, {old} only under an old storage key"
        )


@keys_group.command("migrate")
@click.argument("file", type=click.File("rb"))
@click.option("--region", default=None, help="Country of numbers without a country code.")
def keys_migrate(file, region: str | None) -> None:  # noqa: ANN001
    """Carry the members in FILE (CSV of numbers) over to the current pseudonym key now."""
    from redis import Redis
    from sqlmodel import Session

    from bot.infra.db import get_engine
    from bot.infra.rotation import carry_over, carry_over_opt_out
    from bot.outreach.invitations import parse_invitation_csv

    settings = command_settings("REDIS_URL", "DATABASE_URL", "PSEUDONYM_KEY")
    if not settings.PSEUDONYM_OLD_KEYS:
        raise click.ClickException("no rotation under way: PSEUDONYM_OLD_KEYS is empty")
    check = parse_invitation_csv(
        file.read(), default_region=region or settings.DEFAULT_PHONE_REGION
    )
    redis = Redis.from_url(settings.REDIS_URL)
    try:
        with Session(get_engine(settings.DATABASE_URL)) as session:
            for number in check.valid:
                carry_over(redis, settings, number)
                carry_over_opt_out(session, settings, number)
            session.commit()
    finally:
        redis.close()
    # Not even a count of what moved: that would say who had opted out or answered.
    click.echo(f"{len(check.valid)} numbers read; what they had is now under the current key")
