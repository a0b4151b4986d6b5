"""Settings for the `surveybot` commands: read once, checked before a command asks anything.

A command names the settings it cannot work without; a missing one stops it at once with one
line that says which and how to set it (bot.infra.config.Settings.require), before any prompt, file
read or connection. Beside a running `surveybot dev` the settings are that instance's
(bot/infra/devinstance.py).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from bot.infra.config import Settings, load_settings
from bot.infra.exceptions import ConfigError


def command_settings(*required: str, purpose: str = "") -> Settings:
    """The settings, with each of `required` set, or a one-line ClickException."""
    try:
        settings = load_settings()
        settings.require(*required, purpose=purpose)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return settings


def invoked_as() -> str:
    """How to type this same `surveybot` in the folder it runs from (for hints and banners)."""
    script = Path(sys.argv[0])
    if script.name != "surveybot":
        return "surveybot"
    try:
        relative = script.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return shlex.quote(str(script))
    return shlex.quote(str(relative))
