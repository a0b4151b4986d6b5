"""The sign-in throttle: failed sign-ins counted per account and per client address in Redis."""

from __future__ import annotations

import hashlib
import hmac

from redis import Redis

from bot.dashboard.accounts import normalize_email
from bot.infra import keys

MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20  # an office behind one address has several organizers
LOCKOUT_SECONDS = 15 * 60


def _digest(secret: str, value: str) -> str:
    # Keyed, so Redis never holds an organizer's email or address in a recoverable form.
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def failures_key(kind: str, digest: str) -> str:
    """Failed sign-ins of one account ("account") or one client address ("address")."""
    return f"{keys.PREFIX}:dash:fail:{kind}:{digest}"


class Throttle:
    """Counts failed sign-ins per account and per client address, and locks both out.

    Each failure keeps the counter for LOCKOUT_SECONDS more, so failures add up while they come
    less than that apart, and a locked account opens LOCKOUT_SECONDS after the last failure.
    """

    def __init__(self, redis: Redis, secret: str) -> None:
        self.redis = redis
        self.secret = secret

    def _keys(self, email: str, address: str) -> list[tuple[str, int]]:
        return [
            (
                failures_key("account", _digest(self.secret, normalize_email(email))),
                MAX_FAILURES_PER_ACCOUNT,
            ),
            (failures_key("address", _digest(self.secret, address)), MAX_FAILURES_PER_ADDRESS),
        ]

    def locked(self, email: str, address: str) -> bool:
        """Whether this account or this address has too many recent failures."""
        pairs = self._keys(email, address)
        counts = self.redis.mget([key for key, _ in pairs])
        return any(
            int(count or 0) >= limit for count, (_, limit) in zip(counts, pairs, strict=True)
        )

    def failed(self, email: str, address: str) -> None:
        """Count one failed sign-in."""
        with self.redis.pipeline() as pipe:
            for key, _ in self._keys(email, address):
                pipe.incr(key)
                pipe.expire(key, LOCKOUT_SECONDS)
            pipe.execute()

    def succeeded(self, email: str) -> None:
        """Forget the account's failures (the address's decay on their own)."""
        self.redis.delete(self._keys(email, "")[0][0])
