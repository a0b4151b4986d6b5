"""`surveybot user ...`: dashboard accounts from the command line (there is no default one)."""

from __future__ import annotations

import sys

import click
from sqlmodel import Session

from bot.cli.settings import command_settings, invoked_as
from bot.dashboard.accounts import (
    AccountError,
    Role,
    check_new_account,
    check_password_rules,
    create_user,
    get_user,
    list_users,
    set_disabled,
    set_password,
    set_role,
)
from bot.infra.db import get_engine


def _database() -> Session:
    """A session on the accounts' database (checked before any password is asked)."""
    settings = command_settings("DATABASE_URL", purpose="accounts live in the database")
    return Session(get_engine(settings.DATABASE_URL))


def _read_password(from_stdin: bool, email: str) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password_rules(password, (email,))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    return password


_role_choice = click.Choice([r.value for r in Role])
_stdin_option = click.option(
    "--password-stdin", is_flag=True, help="Read the password from one line of standard input."
)


@click.group("user")
def user_group() -> None:
    """Dashboard accounts (there is no default account)."""


@user_group.command("create")
@click.argument("email")
@click.option("--role", required=True, type=_role_choice, help="What the account may do.")
@_stdin_option
def user_create(email: str, role: str, password_stdin: bool) -> None:
    """Create an account; asks for its password twice (12 characters or more, hard to guess)."""
    with _database() as session:
        try:
            check_new_account(session, email)  # before asking for a password
            password = _read_password(password_stdin, email)
            user = create_user(session, email=email, role=role, password=password)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"created {user.role} account {user.email}")


@user_group.command("list")
def user_list() -> None:
    """List the accounts: email, role, and whether disabled."""
    with _database() as session:
        users = list_users(session)
        if not users:
            click.echo(f"no accounts yet: {invoked_as()} user create EMAIL --role admin")
        for user in users:
            flag = "  (disabled)" if user.disabled else ""
            click.echo(f"{user.email}  {user.role}{flag}")


@user_group.command("set-role")
@click.argument("email")
@click.argument("role", type=_role_choice)
def user_set_role(email: str, role: str) -> None:
    """Change an account's role."""
    with _database() as session:
        try:
            user = set_role(session, get_user(session, email), role)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{user.email} is now {user.role}")


@user_group.command("disable")
@click.argument("email")
def user_disable(email: str) -> None:
    """Disable an account (it cannot sign in; its sessions end)."""
    with _database() as session:
        try:
            user = set_disabled(session, get_user(session, email), True)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{user.email} is disabled")


@user_group.command("enable")
@click.argument("email")
def user_enable(email: str) -> None:
    """Enable a disabled account again."""
    with _database() as session:
        try:
            user = set_disabled(session, get_user(session, email), False)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{user.email} is enabled")


@user_group.command("set-password")
@click.argument("email")
@_stdin_option
def user_set_password(email: str, password_stdin: bool) -> None:
    """Give an account a new password (its sessions end)."""
    with _database() as session:
        try:
            user = get_user(session, email)
            password = _read_password(password_stdin, user.email)
            set_password(session, user, password)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"new password set for {user.email}")
