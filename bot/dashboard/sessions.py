"""Server-side dashboard sessions in Redis.

A signed-in browser holds a random session id in Flask's signed cookie; the session itself
lives in Redis with an idle and an absolute expiry, so signing out, disabling an account or
changing its password ends it everywhere.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from redis import Redis

from bot.dashboard.accounts import password_fingerprint
from bot.infra import keys
from bot.infra.models import User

SESSION_IDLE_SECONDS = 2 * 3600
SESSION_MAX_SECONDS = 12 * 3600


def session_key(sid: str) -> str:
    """A signed-in dashboard session (JSON, with an idle TTL), under a digest of its id: what
    Redis holds (or a copy of it leaks) is no session id a browser could present."""
    digest = hashlib.sha256(sid.encode()).hexdigest()
    return f"{keys.PREFIX}:dash:session:{digest}"


def start_session(redis: Redis, user: User) -> str:
    """A new server-side session for this account; returns its random id."""
    sid = secrets.token_urlsafe(32)
    record = {"user": user.id, "pw": password_fingerprint(user), "since": int(time.time())}
    redis.set(session_key(sid), json.dumps(record), ex=SESSION_IDLE_SECONDS)
    return sid


def resume_session(redis: Redis, sid: str) -> dict[str, Any] | None:
    """The session of this id if it has not expired (and extend its idle time), else None."""
    blob = redis.get(session_key(sid))
    if blob is None:
        return None
    record = json.loads(blob)
    age = time.time() - record["since"]
    if age >= SESSION_MAX_SECONDS:
        redis.delete(session_key(sid))
        return None
    redis.expire(session_key(sid), int(min(SESSION_IDLE_SECONDS, SESSION_MAX_SECONDS - age)) + 1)
    return record


def end_session(redis: Redis, sid: str) -> None:
    """Forget a session (sign-out)."""
    redis.delete(session_key(sid))
