"""Redis must refuse writes when its memory is full, never evict: checked at start.

Redis holds what exists nowhere else: conversations in flight, the sealed storage inbox of
completed responses, and RQ's jobs. With an eviction policy (`allkeys-lru`, `volatile-ttl`...)
Redis makes room by deleting keys: a completed survey's record or job silently vanishes (a fault
run lost 53 of 148). With `noeviction` a full Redis refuses writes with an OOM error: the webhook
answers 503, Twilio retries (README, "Connecting a real Twilio number"), nothing is lost once
memory frees.

`noeviction` is required whatever `maxmemory` says: with `maxmemory 0` nothing is evicted today,
but anyone can `CONFIG SET maxmemory` at run time (a managed Redis sets it with the plan) and
the policy takes effect at once, with no restart for this check to see.
"""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError, ResponseError

from bot.infra.exceptions import ConfigError

log = logging.getLogger("surveybot.memory")

REQUIRED_POLICY = "noeviction"


def memory_policy(redis: Redis) -> str | None:
    """Redis's `maxmemory-policy`, or None when it cannot be read (CONFIG disabled)."""
    try:
        return redis.config_get("maxmemory-policy").get("maxmemory-policy")
    except ResponseError:  # a managed Redis that renames or hides CONFIG
        return None


def check_memory_policy(redis: Redis, *, production: bool, process: str) -> str:
    """Refuse (production: ConfigError) or warn (elsewhere) unless Redis evicts nothing.

    Returns what was found, for tests and the start-up log. Redis unreachable at start is not
    this check's business (the outage handling answers 503 until it is back): it is logged and
    the process starts.
    """
    try:
        policy = memory_policy(redis)
    except RedisError as exc:
        log.warning(
            "%s: could not check Redis's maxmemory-policy (%s); it must be %s",
            process,
            type(exc).__name__,
            REQUIRED_POLICY,
        )
        return "unchecked"
    if policy == REQUIRED_POLICY:
        return policy
    if policy is None:
        log.warning(
            "%s: Redis does not show its maxmemory-policy (CONFIG GET refused); make sure it "
            "is %s, or completed surveys can be evicted when memory is full",
            process,
            REQUIRED_POLICY,
        )
        return "hidden"
    problem = (
        f"Redis's maxmemory-policy is {policy}: when its memory is full Redis deletes keys, "
        f"completed surveys and queued jobs included. Set `maxmemory-policy {REQUIRED_POLICY}` "
        "(README, Production)"
    )
    if production:
        raise ConfigError(problem)
    log.warning("%s: %s", process, problem)
    return policy
