"""Storage batches: the shuffle between the conversations and the database.

Completed responses and per-respondent counter increments wait, sealed, in the storage inbox
(bot/records/inbox.py). A batch closes when the inbox holds at least BATCH_MIN_SIZE records
and BATCH_MIN_HOURS have passed since the previous batch, whichever comes later (cron asks
every 30 s; `force` closes one now). A batch:

1. takes every waiting record (split evenly into transactions of at most BATCH_MAX_RECORDS),
   opens them with the storage secret key and shuffles them (the system's CSPRNG);
2. writes all their responses and answers in ONE database transaction, in the shuffled order,
   idempotent by response id: the rows' physical order, their ids and the WAL's commit time say
   when the batch ran, not who finished when;
3. then, atomically in Redis, removes them from the inbox and applies their counter increments
   (an increment only if its record was still there: a batch re-run, or two overlapping runs,
   count each record once);
4. notes the batch's time (STORAGE_LAST_BATCH) and asks for each touched wave's aggregates.

A database outage leaves every record in the inbox for the next run: nothing is lost and no
job holds answers. Log lines give batch-level counts only.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from redis import Redis
from sqlalchemy.exc import SQLAlchemyError

from bot.infra import clock, defaults, keys
from bot.infra.config import Settings
from bot.infra.db import session_scope
from bot.infra.exceptions import ConfigError
from bot.infra.queues import get_queue
from bot.infra.sealing import SealError
from bot.records import inbox
from bot.records.responses import write_responses
from bot.releases.aggregates import request_refresh

log = logging.getLogger("surveybot.storage")

ASKED_PREFIX = "asked:"

# Removes each record of a committed batch from the inbox and, for a counter record that was
# still there, applies its increment: exactly once however often a batch is re-run.
# KEYS[1]: the inbox; ARGV: quintuples (sealed record, hash key or "", field, record key,
# increment: 1, or -1 for one taken back): the record key is summed beside the counter
# (inbox.key_field), for the cell-key method.
_APPLY = """
local applied = 0
for i = 1, #ARGV, 5 do
  if redis.call('SREM', KEYS[1], ARGV[i]) == 1 and ARGV[i + 1] ~= '' then
    redis.call('HINCRBY', ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 4]))
    redis.call('HINCRBY', ARGV[i + 1], ARGV[i + 2] .. '#key', tonumber(ARGV[i + 3]))
    applied = applied + 1
  end
end
return applied
"""


@dataclass
class BatchResult:
    """What one run did, in batch-level figures only."""

    status: str  # "stored", "waiting" (not due), "empty", "database unavailable"
    records: int = 0
    responses: int = 0  # new rows (a re-run writes none)
    counts: int = 0
    unreadable: int = 0
    waves: set[str] = field(default_factory=set)


def is_due(redis: Redis, *, min_size: int, min_hours: float) -> bool:
    """Whether the inbox holds `min_size` records and `min_hours` have passed since the last
    batch (there is none yet: no wait)."""
    waiting = inbox.size(redis)
    if waiting == 0 or waiting < min_size:
        return False
    last = redis.get(keys.STORAGE_LAST_BATCH)
    if last is None:
        return True
    return clock.now().timestamp() - float(last) >= min_hours * 3600


def counter_target(wave: str, field_name: str) -> tuple[str, str]:
    """The hash and field a count record increments (as the conversation did before)."""
    if field_name.startswith(ASKED_PREFIX):
        return keys.asked_stats(wave), field_name[len(ASKED_PREFIX) :]
    return keys.wave_stats(wave), field_name


def store_batch(
    settings: Settings,
    redis: Redis,
    *,
    force: bool = False,
    rng: random.Random | None = None,
    limit: int = defaults.BATCH_MAX_RECORDS,
) -> BatchResult:
    """Close a batch if one is due (or `force`) and store it; see the module's docstring."""
    secret_key = settings.storage_secret_key
    if not secret_key:
        raise ConfigError("STORAGE_SECRET_KEY is not set: storage workers need it to open records")
    due = is_due(redis, min_size=settings.batch_min_size, min_hours=settings.batch_min_hours)
    if not (due or force):
        return BatchResult("waiting", records=inbox.size(redis))
    waiting = inbox.size(redis)
    if not waiting:
        return BatchResult("empty")
    rng = rng or secrets.SystemRandom()
    parts = math.ceil(waiting / limit)
    result = BatchResult("stored")
    for _ in range(parts):
        sealed = inbox.take(redis, math.ceil(waiting / parts))
        if not sealed:
            break
        try:
            _store_part(settings.DATABASE_URL, redis, secret_key, sealed, rng, result)
        except SQLAlchemyError as exc:
            log.warning(
                "storage batch waits: database unavailable (%s); %d records stay in the inbox",
                type(exc).__name__,
                inbox.size(redis),
            )
            result.status = "database unavailable"
            break
    if result.status == "stored":
        redis.set(keys.STORAGE_LAST_BATCH, int(clock.now().timestamp()))
    queue = get_queue(redis)
    for wave in sorted(result.waves):
        request_refresh(redis, queue, wave)
    log.info(
        "storage batch: %d records, %d new responses, %d counts%s",
        result.records,
        result.responses,
        result.counts,
        f", {result.unreadable} unreadable left in the inbox" if result.unreadable else "",
    )
    return result


def _store_part(
    database_url: str,
    redis: Redis,
    secret_key: str,
    sealed: list[bytes],
    rng: random.Random,
    result: BatchResult,
) -> None:
    """Open, shuffle and store one transaction's worth of records (updates `result`)."""
    opened: list[tuple[bytes, dict]] = []
    for raw in sealed:
        try:
            opened.append((raw, inbox.open_record(secret_key, raw)))
        except (SealError, ValueError):
            # Sealed to another key pair (e.g. a rotated one) or damaged: left in the inbox,
            # never guessed at.
            result.unreadable += 1
    rng.shuffle(opened)
    payloads = [record for _, record in opened if record.get("kind") == inbox.RESPONSE]
    with session_scope(database_url) as session:
        fresh = write_responses(session, payloads)
    redis.eval(_APPLY, 1, keys.STORAGE_INBOX, *_apply_args(opened))
    result.records += len(opened)
    result.responses += len(fresh)
    result.counts += sum(1 for _, record in opened if record.get("kind") == inbox.COUNT)
    result.waves.update(str(payload["wave"]) for payload in payloads)


def _apply_args(opened: Iterable[tuple[bytes, dict]]) -> list[bytes | str]:
    args: list[bytes | str] = []
    for raw, record in opened:
        if record.get("kind") == inbox.COUNT:
            hash_key, field_name = counter_target(record["wave"], record["field"])
            step = -1 if record.get("n") == -1 else 1
            args.extend((raw, hash_key, field_name, int(record.get("k", 0)), step))
        else:
            args.extend((raw, "", "", 0, 0))
    return args
