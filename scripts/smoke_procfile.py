"""Smoke test of production's process model: the Procfile's own command lines.

Runs `release` (the schema migration), then `web` (gunicorn), `worker` (twice: forking RQ
workers) and `cron` exactly as the Procfile writes them, in production mode with real-looking
secrets, against the database given (PostgreSQL in CI) and a Redis of its own with AOF on, as
the README asks of production (bench/procfile.py starts them; bench/faults.py does the same
under faults). Opens a wave with `surveybot wave create/open`, sends complete
surveys as Twilio would (signed webhooks, numbers in E.164), then waits until cron's storage
batches (BATCH_MIN_SIZE=1, BATCH_MIN_HOURS=0 here, so each check closes one; at most a minute)
have stored every response and the workers refreshed the wave's aggregates after the last one:
several batches and refreshes in a row in forked work horses, which is where a connection
shared between horses broke refreshes on PostgreSQL. Stops everything with SIGTERM and fails
on any failed job, traceback or leftover process.

    python scripts/smoke_procfile.py --database-url postgresql://postgres@127.0.0.1:5432/smoke
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.procfile import AofRedis, Bot, Processes, StackError, production_env, wait_for  # noqa: E402

# Answered in batches, each waited for until a refresh has counted it: three refreshes in a
# row on two workers, the first of more than psycopg's prepare threshold (5) profile rows.
BATCHES = (6, 2, 2)
RESPONDENTS = sum(BATCHES)
TIMEOUT = 90


def fail(message: str) -> None:
    raise SystemExit(f"FAIL: {message}")


def survey(bot: Bot, sender: str, rng: random.Random) -> None:
    replies = bot.text(sender, "SMOKE")
    replies = bot.text(sender, "1")  # consent
    for _ in range(15):
        last = replies[-1]
        if "1." not in last:
            return
        options = last.count("\n") - 1
        answer = "1 2" if "1 3" in last else str(rng.randint(1, max(1, options)))
        replies = bot.text(sender, answer)
    fail(f"the survey of {sender} did not end")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SMOKE_DATABASE_URL"),
        help="A database this run may migrate and fill (default: $SMOKE_DATABASE_URL).",
    )
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url is required")
    workdir = Path(tempfile.mkdtemp(prefix="surveybot-procfile-"))
    redis = AofRedis(workdir)
    env = production_env(workdir=workdir, redis_url=redis.url, database_url=args.database_url)
    processes = Processes(env, workdir)
    try:
        processes.release()
        print("release:", processes.commands["release"].strip())
        processes.run("surveybot", "wave", "create", "smoke", "--keyword", "en=SMOKE",
                      "--survey", env["SURVEY_FILE"])  # fmt: skip
        processes.run("surveybot", "wave", "open", "smoke")
        processes.start_all(workers=2)
        print(f"web, 2 workers and cron running from the Procfile on {processes.base}")
        bot = Bot(processes.base, env["TWILIO_AUTH_TOKEN"])
        rng = random.Random(9)
        answered = 0
        for batch in BATCHES:
            for _ in range(batch):
                survey(bot, f"+1305555{answered:04d}", rng)
                answered += 1
            wait_for(f"{answered} stored responses", lambda n=answered: _stored(env) == n,
                     TIMEOUT)  # fmt: skip
            wait_for(f"a refresh counting {answered}", lambda n=answered: _aggregated(env) == n,
                     TIMEOUT)  # fmt: skip
            print(f"{answered} surveys answered ({bot.sent} signed texts), stored and aggregated")
        failed = _failed_jobs(redis.url)
        if failed:
            fail(f"{failed} jobs failed")
    except StackError as exc:
        fail(str(exc))
    finally:
        for name in processes.stop_all():
            print(f"{name} did not stop within 30 s of SIGTERM", file=sys.stderr)
        redis.stop()
    for name in processes.logs:
        text = processes.log_text(name)
        if "Traceback" in text or "DuplicatePreparedStatement" in text:
            fail(f"the {name} process logged an error:\n{text[-3000:]}")
    shutil.rmtree(workdir, ignore_errors=True)
    print("every Procfile process stopped on SIGTERM; no error logged")
    return 0


def _stored(env: dict[str, str]) -> int:
    from sqlmodel import Session, func, select

    from bot.infra.db import get_engine
    from bot.infra.models import Response

    with Session(get_engine(env["DATABASE_URL"])) as session:
        count = session.exec(
            select(func.count()).select_from(Response).where(Response.wave == "smoke")
        ).one()
    return count


def _aggregated(env: dict[str, str]) -> int:
    from sqlmodel import Session, func, select

    from bot.infra.db import get_engine
    from bot.infra.models import AggregateProfile

    with Session(get_engine(env["DATABASE_URL"])) as session:
        total = session.exec(
            select(func.sum(AggregateProfile.respondents)).where(AggregateProfile.wave == "smoke")
        ).one()
    return total or 0


def _failed_jobs(redis_url: str) -> int:
    from redis import Redis
    from rq import Queue
    from rq.registry import FailedJobRegistry

    from bot.infra import defaults

    with Redis.from_url(redis_url) as redis:
        return len(FailedJobRegistry(queue=Queue(defaults.QUEUE_NAME, connection=redis)))


if __name__ == "__main__":
    sys.exit(main())
