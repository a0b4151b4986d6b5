"""`surveybot cleanup status`: how the deletion of records at Twilio is going, from counters
that hold no identifier."""

from __future__ import annotations

import datetime as dt

import click

from bot.cli.settings import command_settings
from bot.infra import clock

COLUMNS = ("scheduled", "deleted", "already_gone", "retried", "failed")


def cleanup_counts(redis, *, days: int, today: dt.date) -> list[tuple[str, str, dict[str, int]]]:  # noqa: ANN001
    """(day, kind, {outcome: count}) for the last `days` days that have counters, newest first;
    error codes appear as "error:CODE" outcomes."""
    from bot.infra import keys
    from bot.records.cleanup import RecordKind

    rows = []
    for back in range(days):
        day = (today - dt.timedelta(days=back)).isoformat()
        raw = {k.decode(): int(v) for k, v in redis.hgetall(keys.cleanup_stats(day)).items()}
        for kind in RecordKind:
            prefix = f"{kind}:"
            counts = {k[len(prefix) :]: v for k, v in raw.items() if k.startswith(prefix)}
            if counts:
                rows.append((day, str(kind), counts))
    return rows


def waiting_deletions(redis) -> int:  # noqa: ANN001
    """Deletion jobs queued or scheduled (first runs and retries), read by their description."""
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    from bot.infra.queues import get_queue

    queue = get_queue(redis)
    ids = [*queue.get_job_ids(), *ScheduledJobRegistry(queue=queue).get_job_ids()]
    with redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(Job.key_for(job_id), "description")
        descriptions = pipe.execute()
    return sum(1 for d in descriptions if d and d.endswith(b" record at Twilio"))


def format_status(rows, *, on: bool, days: int, waiting: int) -> list[str]:  # noqa: ANN001
    """The operator's view of the counters, as lines."""
    lines = [
        f"Deleting records at Twilio: {'on' if on else 'off'} (TWILIO_DELETE_MESSAGES)",
        f"deletion jobs waiting (scheduled, queued or to retry): {waiting}",
    ]
    if not rows:
        lines.append(f"no deletions counted in the last {days} days")
        return lines
    titles = "  ".join(f"{c.replace('_', ' '):>12}" for c in COLUMNS)
    lines.append(f"{'day':<10}  {'kind':<7}  {titles}  errors")
    for day, kind, counts in rows:
        errors = ", ".join(
            f"{k.removeprefix('error:')} x{v}" for k, v in sorted(counts.items()) if ":" in k
        )
        cells = "  ".join(f"{counts.get(c, 0):>12}" for c in COLUMNS)
        lines.append(f"{day:<10}  {kind:<7}  {cells}  {errors}".rstrip())
    return lines


@click.group("cleanup")
def cleanup_group() -> None:
    """Deleting message and call records at Twilio (TWILIO_DELETE_MESSAGES=1)."""


@cleanup_group.command("status")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 400))
def cleanup_status(days: int) -> None:
    """Deletions per day and kind: scheduled, deleted, already gone, retried, failed."""
    from redis import Redis

    from bot.records.cleanup import deletion_on

    settings = command_settings("REDIS_URL", purpose="the counters live in Redis")
    redis = Redis.from_url(settings.REDIS_URL)
    try:
        rows = cleanup_counts(redis, days=days, today=clock.today())
        waiting = waiting_deletions(redis)
    finally:
        redis.close()
    for line in format_status(rows, on=deletion_on(settings), days=days, waiting=waiting):
        click.echo(line)
