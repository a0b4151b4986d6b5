"""The settings a worker process runs with: read from the environment once, or set by the
process that runs the jobs (tests and `surveybot dev` hand theirs over)."""

from __future__ import annotations

from redis import Redis
from rq import get_current_job

from bot.infra.config import Settings, load_settings

_settings: Settings | None = None


def settings() -> Settings:
    """This process's settings."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def configure(value: Settings | None) -> None:
    """Use these settings for jobs run in this process (None: read the environment again)."""
    global _settings
    _settings = value


def redis() -> Redis:
    """The Redis of the running job (its own connection), or a new one from the settings."""
    job = get_current_job()
    return job.connection if job is not None else Redis.from_url(settings().REDIS_URL)
