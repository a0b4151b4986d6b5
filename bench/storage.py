"""Storage throughput: one transaction per response (the old storage job) against shuffled
batches from the sealed inbox, on the same responses, in the same run.

Both sides start from empty tables on the PostgreSQL given and a Redis of their own:

- per response: `bot.records.responses.store_response` once per payload, what each storage job
  of earlier releases ran (a transaction and an aggregate-refresh request each). RQ's own cost
  per job (enqueue, fetch, a forked work horse per job) is NOT counted, so the ratio printed
  understates what the batches save;
- batch: the same payloads sealed into the inbox (sealing timed apart: it runs on the webhook
  path), then `bot.records.batches.store_batch`: open, shuffle, one transaction, counters.

    .venv/bin/python bench/storage.py --database-url postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import random_answers  # noqa: E402
from bench.services import start_redis, stop_process  # noqa: E402


def payloads(count: int, seed: int) -> list[dict]:
    """`count` completed responses of the shipped questionnaire (seeded answers)."""
    from bot.core.questionnaire import load_questionnaire

    q = load_questionnaire()
    rng = random.Random(seed)
    return [
        {
            "response_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "survey": q.id,
            "survey_version": q.version,
            "wave": "bench",
            "language": rng.choice(list(q.languages)),
            "completed_on": "2026-11-18",
            "answers": random_answers(q, rng),
        }
        for _ in range(count)
    ]


def empty_tables(database_url: str) -> None:
    from sqlalchemy import text

    from bot.infra.db import get_engine

    with get_engine(database_url).begin() as connection:
        connection.execute(text("TRUNCATE response, answer"))


def count_rows(database_url: str) -> int:
    from sqlalchemy import text

    from bot.infra.db import get_engine

    with get_engine(database_url).connect() as connection:
        return connection.execute(text("SELECT count(*) FROM response")).scalar_one()


def run(database_url: str, count: int, seed: int) -> dict[str, float]:
    """Time both paths on the same payloads; responses per second of each."""
    from redis import Redis

    from bot.infra.config import load_settings
    from bot.infra.migrate import upgrade
    from bot.records import batches, inbox
    from bot.records.responses import store_response

    upgrade(database_url)
    data = payloads(count, seed)
    workdir = Path(tempfile.mkdtemp(prefix="surveybot-bench-storage-"))
    redis_process, redis_url = start_redis(workdir)
    try:
        redis = Redis.from_url(redis_url)
        settings = load_settings(
            {"SURVEYBOT_ENV": "test", "PSEUDONYM_KEY": "bench-" + "k" * 32},
            env_file=None,
            dev_instance=False,
        )
        settings = replace(settings, DATABASE_URL=database_url, REDIS_URL=redis_url)

        empty_tables(database_url)
        t0 = time.perf_counter()
        for payload in data:
            store_response(database_url, redis, payload)
        one_by_one = time.perf_counter() - t0
        assert count_rows(database_url) == count

        empty_tables(database_url)
        redis.flushdb()
        t0 = time.perf_counter()
        for payload in data:
            inbox.put(redis, settings.storage_public_key, inbox.RESPONSE, payload)
        sealing = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = batches.store_batch(settings, redis, force=True)
        batch = time.perf_counter() - t0
        assert result.responses == count == count_rows(database_url), result
        empty_tables(database_url)
        redis.close()
    finally:
        stop_process(redis_process)
    return {
        "per_response": count / one_by_one,
        "batch": count / batch,
        "sealing_us": sealing / count * 1e6,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL (its tables are emptied)")
    parser.add_argument("--responses", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    figures = run(args.database_url, args.responses, args.seed)
    print(f"{args.responses} responses on {args.database_url.rsplit('@', 1)[-1]}")
    print(f"  one transaction per response (old job body): {figures['per_response']:8.0f} /s")
    print(f"  one shuffled batch from the sealed inbox:     {figures['batch']:8.0f} /s")
    print(f"  ratio batch / per response: {figures['batch'] / figures['per_response']:.1f}")
    print(f"  sealing on the webhook path: {figures['sealing_us']:.0f} µs per record")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
