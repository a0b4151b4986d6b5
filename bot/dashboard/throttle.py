"""The sign-in throttle: growing delays per account, per client address and per both.

Every attempt is counted before its password is checked, in one Redis script that also decides
whether the attempt may go ahead: however many arrive at once, no more than the free allowance
are ever checked. Past the allowance each further attempt must wait twice as long as the one
before, counted from the last attempt that was let through:

- per account and address: up to 15 minutes, so a guesser who sticks to one address slows
  only themself;
- per address: up to 15 minutes, past a larger allowance (an office behind one address has
  several organizers), so one address cannot sweep many accounts;
- per account, for addresses the account has not signed in from before: up to one minute,
  so guesses spread over many addresses stay slow, yet a stranger who knows an organizer's
  email can never keep them out for more than a minute; and from an address where the
  organizer has signed in before, not at all.

Redis holds keyed digests, never an email or an address; the script reads the app's clock.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

from redis import Redis

from bot.dashboard.accounts import normalize_email
from bot.infra import clock, keys

MAX_FAILURES_PER_ACCOUNT = 5  # free attempts of one account from one address
MAX_FAILURES_PER_ADDRESS = 20  # free attempts from one address, all accounts together
MAX_FAILURES_ACROSS_ADDRESSES = 5  # free attempts of one account from unfamiliar addresses
FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 15 * 60  # per account and address, and per address
MAX_ACCOUNT_DELAY_SECONDS = 60  # what a stranger can make the organizer wait, at most
FORGET_SECONDS = 15 * 60  # counters go this long after the last attempt (or twice its delay)
FAMILIAR_SECONDS = 90 * 24 * 3600  # an address an account signed in from stays familiar

# KEYS: counters. ARGV: now (ms), then per key: free attempts, first delay, cap, forget (ms).
# Returns 0 when the attempt is let through (and counted), else the milliseconds to wait.
_ATTEMPT = """
local now = tonumber(ARGV[1])
local function delay(n, j)
  local free = tonumber(ARGV[j])
  if n < free then return 0 end
  return math.min(tonumber(ARGV[j + 1]) * 2 ^ math.min(n - free, 40), tonumber(ARGV[j + 2]))
end
local wait = 0
for i, key in ipairs(KEYS) do
  local j = 2 + (i - 1) * 4
  local state = redis.call('HMGET', key, 'n', 't')
  local n = tonumber(state[1]) or 0
  local left = (tonumber(state[2]) or 0) + delay(n, j) - now
  if n >= tonumber(ARGV[j]) and left > wait then wait = left end
end
if wait > 0 then return math.ceil(wait) end
for i, key in ipairs(KEYS) do
  local j = 2 + (i - 1) * 4
  local n = redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 't', now)
  redis.call('PEXPIRE', key, math.max(tonumber(ARGV[j + 3]), 2 * delay(n, j)))
end
return 0
"""
# KEYS[1]: an address's counter: one attempt taken back (a right password), if still counted.
_REFUND = """
if (tonumber(redis.call('HGET', KEYS[1], 'n')) or 0) > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
"""


def _digest(secret: str, value: str) -> str:
    # Keyed, so Redis never holds an organizer's email or address in a recoverable form.
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def failures_key(kind: str, digest: str) -> str:
    """Recent sign-in attempts of one "account", one "address" or one "pair" of both."""
    return f"{keys.PREFIX}:dash:fail:{kind}:{digest}"


def familiar_key(digest: str) -> str:
    """Present while an address is one an account has signed in from (its pair digest)."""
    return f"{keys.PREFIX}:dash:known:{digest}"


@dataclass(frozen=True)
class _Counter:
    key: str
    free: int
    cap_seconds: float

    def args(self) -> list[int]:
        cap = self.cap_seconds * 1000
        return [self.free, int(FIRST_DELAY_SECONDS * 1000), int(cap), FORGET_SECONDS * 1000]


class Throttle:
    """Lets a sign-in attempt through (counted) or says how long to wait; forgets an account's
    failures when it signs in."""

    def __init__(self, redis: Redis, secret: str) -> None:
        self.redis = redis
        self.secret = secret
        self._attempt = redis.register_script(_ATTEMPT)
        self._refund = redis.register_script(_REFUND)

    def _account(self, email: str) -> str:
        return _digest(self.secret, "account:" + normalize_email(email))

    def _pair(self, email: str, address: str) -> str:
        return _digest(self.secret, f"pair:{normalize_email(email)}|{address}")

    def _counters(self, email: str, address: str) -> list[_Counter]:
        pair = self._pair(email, address)
        counters = [
            _Counter(failures_key("pair", pair), MAX_FAILURES_PER_ACCOUNT, MAX_DELAY_SECONDS),
            _Counter(
                failures_key("address", _digest(self.secret, "address:" + address)),
                MAX_FAILURES_PER_ADDRESS,
                MAX_DELAY_SECONDS,
            ),
        ]
        if not self.redis.exists(familiar_key(pair)):
            counters.append(
                _Counter(
                    failures_key("account", self._account(email)),
                    MAX_FAILURES_ACROSS_ADDRESSES,
                    MAX_ACCOUNT_DELAY_SECONDS,
                )
            )
        return counters

    def attempt(self, email: str, address: str) -> int:
        """0 if this attempt may check its password (it is counted now, atomically with the
        decision), else the whole seconds to wait before the next one will be let through."""
        counters = self._counters(email, address)
        now_ms = int(clock.now().timestamp() * 1000)
        args = [now_ms, *(value for counter in counters for value in counter.args())]
        wait_ms = int(self._attempt(keys=[c.key for c in counters], args=args))
        return math.ceil(wait_ms / 1000) if wait_ms > 0 else 0

    def succeeded(self, email: str, address: str) -> None:
        """The password was right: forget this account's attempts, take this one back from the
        address's count, and remember the address as familiar to the account."""
        pair = self._pair(email, address)
        address_key = failures_key("address", _digest(self.secret, "address:" + address))
        self.redis.delete(failures_key("pair", pair), failures_key("account", self._account(email)))
        self.redis.set(familiar_key(pair), 1, ex=FAMILIAR_SECONDS)
        self._refund(keys=[address_key])


def wait_phrase(seconds: int) -> str:
    """'30 seconds', '2 minutes': how long to wait, in words."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"
