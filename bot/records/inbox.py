"""The storage inbox: sealed records waiting, in no order and with no time, for the next batch.

A conversation that completes, and every counter that says something about one respondent
(started in a language, reached a question, completed), drops a sealed record into one Redis
set in the same transaction as the conversation's step. A set has no order: once Redis has
rewritten its append-only file (bot/records/compaction.py), nothing on disk says which record
came when, and none of them carries a pseudonym, a number, a SID or a time finer than a day.
The storage job (workers/storage.py) opens them in batches with the storage secret key,
shuffles them and writes a whole batch in one database transaction.

Record kinds:
- ``response``: a completed response (the storage payload: answers, language, wave, day).
- ``count``: ``{"wave", "field", "k"}``, one increment of a wave's counter (`keys.wave_stats`)
  or, for ``field`` = ``asked:<question>``, of its drop-off counter (`keys.asked_stats`);
  with ``"n": -1``, one increment taken back (a person counted once moves to another counter).
"""

from __future__ import annotations

import json
from typing import Any

from redis import Redis
from redis.client import Pipeline

from bot.infra import keys
from bot.infra.sealing import seal, unseal
from bot.releases import cellkey

RESPONSE = "response"
COUNT = "count"


def put(pipe: Pipeline | Redis, public_key: str, kind: str, record: dict[str, Any]) -> None:
    """Seal a record and add it to the inbox (inside the caller's MULTI when `pipe` is one)."""
    plain = json.dumps({"kind": kind, **record}, separators=(",", ":"), sort_keys=True)
    pipe.sadd(keys.STORAGE_INBOX, seal(public_key, plain.encode()))


def put_count(
    pipe: Pipeline | Redis,
    public_key: str,
    wave: str,
    field: str,
    *,
    key: int | None = None,
    undo: bool = False,
) -> int:
    """One increment of a wave counter, sealed: who it is about stays out of the counter. It
    carries a random record key (or `key`), summed beside the counter (`key_field`), so a
    release perturbs the counter like any count (bot/releases/cellkey.py); returns it.

    `undo` takes back an earlier increment made with `key`: the counter goes down by one and
    its key sum loses that key, as if that increment had never been made (a person who moves
    from one counter to another, bot/records/counted.py)."""
    record_key = cellkey.new_record_key() if key is None else key
    record: dict = {"wave": wave, "field": field, "k": record_key}
    if undo:
        record.update(n=-1, k=-record_key % cellkey.RECORD_KEY_SPACE)
    put(pipe, public_key, COUNT, record)
    return record_key


def key_field(field: str) -> str:
    """The hash field holding the sum of a counter's record keys."""
    return f"{field}#key"


def size(redis: Redis) -> int:
    """How many sealed records wait."""
    return int(redis.scard(keys.STORAGE_INBOX))


def take(redis: Redis, limit: int) -> list[bytes]:
    """Up to `limit` waiting records, still sealed and still in the inbox (removed by `done`
    once their batch is committed: a worker that dies mid-batch loses nothing)."""
    return list(redis.srandmember(keys.STORAGE_INBOX, limit) or [])


def done(redis: Redis, sealed: list[bytes]) -> None:
    """Remove records whose batch is committed."""
    if sealed:
        redis.srem(keys.STORAGE_INBOX, *sealed)


def open_record(secret_key: str, sealed: bytes) -> dict[str, Any]:
    """A sealed record's content."""
    return json.loads(unseal(secret_key, sealed))
