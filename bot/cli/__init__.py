"""The `surveybot` command (a Flask CLI group, so `flask --app bot ...` has the same commands).

One module per command group: dev, users, waves, releases, reports, survey, sim, cleanup, and the
deployment's processes (worker, cron, db).
"""

from __future__ import annotations

import click

from bot.cli.cleanup import cleanup_group
from bot.cli.dev import dev_command
from bot.cli.keys import keys_group
from bot.cli.processes import cron_command, db_group, worker_command
from bot.cli.releases import release_group
from bot.cli.reports import report_group
from bot.cli.sim import sim_command
from bot.cli.survey import survey_group
from bot.cli.users import user_group
from bot.cli.waves import wave_group
from bot.cli.whatsapp import whatsapp_group

COMMANDS = (  # organizers' commands first, then the deployment's processes
    dev_command,
    user_group,
    wave_group,
    release_group,
    report_group,
    survey_group,
    sim_command,
    whatsapp_group,
    cleanup_group,
    keys_group,
    worker_command,
    cron_command,
    db_group,
)


def init_app(app) -> None:  # noqa: ANN001
    """Register the project's commands on an app (for `flask --app bot ...`)."""
    for command in COMMANDS:
        if command.name not in app.cli.commands:
            app.cli.add_command(command)


class CommandGroup(click.Group):
    """Commands listed in the order an organizer meets them, not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


main = CommandGroup(
    name="surveybot",
    help=(
        "surveybot: the community safety survey bot. Run `surveybot dev` to try everything "
        "locally; the other commands run beside it in the same folder."
    ),
    context_settings={"help_option_names": ["-h", "--help"]},
)
for _command in COMMANDS:
    main.add_command(_command)
