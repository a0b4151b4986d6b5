"""`surveybot dev`: the whole bot on one machine, with embedded defaults (bot/cli/devserver.py)."""

from __future__ import annotations

import sys

import click


@click.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def dev_command(host: str, port: int) -> None:
    """Run everything locally: embedded Redis, SQLite, web, worker and cron."""
    from bot.cli.devserver import run_dev

    sys.exit(run_dev(host=host, port=port))
