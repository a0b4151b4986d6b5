"""The deployment's processes and schema: `surveybot worker`, `cron` and `db` (the Procfile's)."""

from __future__ import annotations

import click

from bot.cli.settings import command_settings
from bot.infra import defaults

# A killed worker's job runs again within about two minutes: its heartbeat lapses after
# JOB_MONITORING + 60 s, and every worker's maintenance (every 30 s, not RQ's 10 minutes, idle
# or not: workers/worker.py) moves it on and takes over the scheduler a dead worker held. A
# live job's heartbeat never lapses.
WORKER_INTERVALS = {
    "maintenance_interval": defaults.WORKER_MAINTENANCE_SECONDS,
    "job_monitoring_interval": defaults.JOB_MONITORING_SECONDS,
}


def worker_intervals(settings) -> dict[str, int]:  # noqa: ANN001
    """WORKER_INTERVALS as the settings have them (the defaults unless a test shortens them)."""
    return {
        "maintenance_interval": max(1, settings.WORKER_MAINTENANCE_SECONDS),
        "job_monitoring_interval": max(1, settings.JOB_MONITORING_SECONDS),
    }


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
    _check_redis(settings, connection, "worker")
    _sync_waves(settings, connection)
    # The worker forks a work horse per job; it keeps no database connection of its own for
    # them to inherit (bot/infra/db.py also makes each child open its own).
    from bot.infra.db import dispose_engines

    dispose_engines()
    worker_class = ProjectSimpleWorker if simple else ProjectWorker
    intervals = worker_intervals(settings)
    run_until_stopped(
        lambda: worker_class([get_queue(connection)], connection=connection, **intervals),
        burst=burst,
        logging_level=settings.LOG_LEVEL,
    )


def run_until_stopped(make_worker, *, burst: bool, logging_level: str) -> int:  # noqa: ANN001
    """Run RQ workers until one is asked to stop (SIGTERM, Ctrl-C) or, with `burst`, runs out
    of jobs. RQ's worker returns on a Redis error (a restart, a network cut) as if it were
    done: a new one starts after a pause (1 s, doubling to 30 s) instead of the process
    exiting with nothing left to store the answers. Returns how many workers ran."""
    import logging

    from redis.exceptions import RedisError

    log = logging.getLogger("surveybot.worker")
    pause, runs = 1.0, 0
    while True:
        worker, worked = None, False
        try:
            worker = make_worker()
            runs += 1
            worked = worker.work(burst=burst, with_scheduler=True, logging_level=logging_level)
        except RedisError as exc:  # RQ's own teardown talks to Redis too
            log.warning("the worker lost Redis (%s)", exc.__class__.__name__)
        # RQ notes a warm shutdown (SIGTERM, Ctrl-C) in _shutdown_requested_date, idle or busy.
        asked_to_stop = getattr(worker, "_shutdown_requested_date", None) is not None
        if worker is not None and (burst or asked_to_stop):
            return runs
        _stop_scheduler(worker)
        next_pause = _wait_before_retry(log, "the worker", pause)
        pause = 1.0 if worked else next_pause


def _check_redis(settings, connection, process: str) -> None:  # noqa: ANN001
    """Scrub key names from every log line, and refuse a Redis that evicts keys (production;
    a warning elsewhere): an evicted job or inbox record is a completed survey lost."""
    from bot.infra.exceptions import ConfigError
    from bot.infra.memory_policy import check_memory_policy
    from bot.infra.redaction import install_log_scrubber

    install_log_scrubber()
    try:
        check_memory_policy(connection, production=settings.is_production, process=process)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _stop_scheduler(worker) -> None:  # noqa: ANN001
    """The scheduler process of a worker that returned on an error: it would outlive it."""
    if worker is not None and getattr(worker, "scheduler", None) is not None:
        try:
            worker.stop_scheduler()
        except Exception:  # noqa: BLE001 - best effort: the process may be gone already
            pass


def _wait_before_retry(log, what: str, pause: float) -> float:  # noqa: ANN001
    """The pause between a process's RQ loop ending on a Redis error and its next start; the
    next pause (doubling, at most 30 s). RQ's signal handlers, which talk to Redis, are put
    back to the defaults first: until the loop runs again, SIGTERM and Ctrl-C end the
    process."""
    import signal
    import time

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    log.warning("%s stopped on a Redis error (is Redis reachable?); again in %.0f s", what, pause)
    time.sleep(pause)
    return min(pause * 2, 30.0)


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
    connection = Redis.from_url(settings.REDIS_URL)
    _check_redis(settings, connection, "cron")
    scheduler = CronScheduler(connection=connection, name="surveybot")
    scheduler.load_config_from_file("workers.cron_config")
    run_cron_until_stopped(scheduler)


def run_cron_until_stopped(scheduler) -> int:  # noqa: ANN001
    """Run RQ's cron scheduler until it is asked to stop. Its loop ends with an exception when
    Redis goes away (a restart, a network cut); the same scheduler, with its jobs' timings,
    starts again after a pause (1 s doubling to 30 s) instead of the process exiting and no
    batch, release or weekly email being queued until something restarted it. Returns how
    many times it started."""
    import logging

    from redis.exceptions import RedisError

    log = logging.getLogger("surveybot.cron")
    pause, runs = 1.0, 0
    while True:
        runs += 1
        try:
            scheduler.start()  # returns on SIGTERM or Ctrl-C
            return runs
        except RedisError as exc:
            log.warning("cron lost Redis (%s)", exc.__class__.__name__)
        pause = _wait_before_retry(log, "cron", pause)


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
