"""`surveybot keys`: the installation's secrets, made and rotated (README: Keys and rotation)."""

from __future__ import annotations

import secrets

import click

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
