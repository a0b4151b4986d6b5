"""The `surveybot` command (a Flask CLI group, so `flask --app bot ...` has the same commands)."""

from __future__ import annotations

import sys

import click

from bot.cli.cleanup import cleanup_group
from bot.cli.reports import report_group
from bot.cli.settings import command_settings
from bot.cli.users import user_group
from bot.cli.waves import wave_group


@click.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def dev_command(host: str, port: int) -> None:
    """Run everything locally: embedded Redis, SQLite, web, worker and cron."""
    from bot.cli.devserver import run_dev

    sys.exit(run_dev(host=host, port=port))


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option(
    "--simple",
    is_flag=True,
    help="Run jobs in this process instead of a forked one per job (faster, less isolated).",
)
def worker_command(burst: bool, simple: bool) -> None:
    """Run an RQ worker for the project's queue (any number may run)."""
    from redis import Redis

    # Import every job module once here, so a job forked per message does not pay for
    # importing the Twilio client and the database layer again (bench/invitations.py).
    import workers.aggregation  # noqa: F401
    import workers.cleanup  # noqa: F401
    import workers.invitations  # noqa: F401
    import workers.storage  # noqa: F401
    import workers.weekly  # noqa: F401
    from bot.infra.queues import get_queue
    from workers import context
    from workers.worker import ProjectSimpleWorker, ProjectWorker

    settings = command_settings("REDIS_URL", purpose="the job queue lives in Redis")
    context.configure(settings)
    connection = Redis.from_url(settings.REDIS_URL)
    _sync_waves(settings, connection)
    # The worker forks a work horse per job; it keeps no database connection of its own for
    # them to inherit (bot/db.py also makes each child open its own).
    from bot.infra.db import dispose_engines

    dispose_engines()
    worker_class = ProjectSimpleWorker if simple else ProjectWorker
    worker = worker_class([get_queue(connection)], connection=connection)
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.LOG_LEVEL)


def _sync_waves(settings, connection) -> None:  # noqa: ANN001
    """Rebuild the Redis registry of open waves from the database if waves exist (a Redis that
    lost it would otherwise fall back to the implicit wave of a fresh installation)."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import Session

    from bot.infra.db import get_engine
    from bot.outreach.waves import list_waves, sync_registry

    if not settings.DATABASE_URL:
        return
    try:
        with Session(get_engine(settings.DATABASE_URL)) as session:
            if list_waves(session):
                sync_registry(session, connection)
    except SQLAlchemyError as exc:
        click.echo(f"could not read the waves ({exc.__class__.__name__}); registry unchanged")


@click.command("cron")
def cron_command() -> None:
    """Run RQ's cron scheduler (exactly one process in a deployment)."""
    import os
    import time

    from redis import Redis
    from rq.cron import CronScheduler

    from workers import context

    # RQ reads cron expressions in the process's local time; the weekly report's schedule is
    # converted to UTC (workers/weekly.py), so pin this process to UTC.
    os.environ["TZ"] = "UTC"
    time.tzset()
    settings = command_settings("REDIS_URL", purpose="the scheduler queues its jobs in Redis")
    context.configure(settings)
    scheduler = CronScheduler(connection=Redis.from_url(settings.REDIS_URL), name="surveybot")
    scheduler.load_config_from_file("workers.cron_config")
    scheduler.start()


@click.group("db")
def db_group() -> None:
    """Database schema migrations."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or upgrade the schema (to the newest revision by default)."""
    from bot.infra.migrate import upgrade

    settings = command_settings("DATABASE_URL")
    upgrade(settings.DATABASE_URL, revision)
    click.echo(f"database schema at {revision}")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Take the schema back to an earlier revision."""
    from bot.infra.migrate import downgrade

    downgrade(command_settings("DATABASE_URL").DATABASE_URL, revision)


@click.group("survey")
def survey_group() -> None:
    """Questionnaire files."""


@survey_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--audio-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of the recordings (default: VOICE_AUDIO_DIR, else audio/ beside FILE).",
)
def survey_check(file: str | None, audio_dir: str | None) -> None:
    """Lint a questionnaire: translations, ids, skip logic, SMS segments and phone prompts."""
    from bot.core.questionnaire import DEFAULT_SURVEY_PATH
    from bot.core.survey_check import check_file, format_findings

    # Only SURVEYBOT_ENV and the two audio settings matter here: a file can be linted without
    # a deployment's secrets (settings are loaded, never validated). Recordings served from
    # VOICE_AUDIO_BASE_URL are not looked for on this disk.
    settings = command_settings()
    base_url = settings.VOICE_AUDIO_BASE_URL
    if audio_dir is None and not base_url:
        audio_dir = settings.VOICE_AUDIO_DIR or None
    path = file or str(DEFAULT_SURVEY_PATH)
    findings = check_file(
        path,
        audio_dir=audio_dir,
        audio_base_url=base_url,
        allow_placeholders=settings.allows_placeholders,
    )
    click.echo(f"checking {path} for {settings.SURVEYBOT_ENV} (SURVEYBOT_ENV)")
    click.echo(format_findings(findings))
    if any(f.level == "error" for f in findings):
        sys.exit(1)


@click.command("sim")
@click.option(
    "--url",
    default="http://127.0.0.1:5000",
    show_default=True,
    help="A running bot with its simulator on (e.g. `surveybot dev`).",
)
@click.option("--from", "sender", default=None, help="Simulated phone number (made up if omitted).")
@click.option("--phone", is_flag=True, help="Call the bot (keypad answers) instead of texting it.")
def sim_command(url: str, sender: str | None, phone: bool) -> None:
    """Text or call the bot from this terminal, through its simulator and signed webhooks."""
    from bot.cli.terminal_sim import run_terminal_call, run_terminal_sim

    (run_terminal_call if phone else run_terminal_sim)(url, sender)


COMMANDS = (  # organizers' commands first, then the deployment's processes
    dev_command,
    user_group,
    wave_group,
    report_group,
    survey_group,
    sim_command,
    cleanup_group,
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
