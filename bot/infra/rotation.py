"""Key rotation: a new PSEUDONYM_KEY without forgetting who opted out or already answered.

Pseudonyms carry the version of their key (`v1:...`). To rotate, an operator sets the new key
and version and moves the old pair to PSEUDONYM_OLD_KEYS (README: Keys and rotation). From
then on every write uses the new key, and what is kept under an old pseudonym is carried over
to the new one the first time its number is seen again: a text or a call (`carry_over`, before
the conversation reads its markers), an invitation (the send job), or `surveybot keys migrate`
with the members' list. `surveybot keys status` counts what still depends on each old key;
when nothing does, the old key is removed from the settings and can no longer link anything.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from redis import Redis
from sqlmodel import Session, select

from bot.infra import keys
from bot.infra.config import Settings
from bot.infra.models import OptOut
from bot.infra.privacy import pseudonym, pseudonym_for
from bot.infra.sealing import SealError, conversation_cipher

# What a number's conversation keeps under its pseudonym, beyond per-message caches (which
# expire within a day and are only read for retries of the same message).
MARKERS = (keys.opted_out, keys.completed_waves, keys.invited, keys.opt_messages)
# Markers whose old and new values are merged, not kept whichever came first.
_MERGED = (keys.completed_waves, keys.opt_messages)
ENCRYPTED = b"e1:"  # as bot/records/sessions.py writes conversation values


def old_pseudonyms(settings: Settings, number: str) -> list[tuple[str, str]]:
    """(old key, pseudonym under it) of a number, for every key still read."""
    return [(key, pseudonym(key, number, version=v)) for v, key in settings.old_pseudonym_keys]


def carry_over(redis: Redis, settings: Settings, number: str) -> int:
    """Move what Redis keeps under a number's old pseudonyms to its current one; how many keys
    moved. One round trip when there is nothing to move; nothing at all without a rotation."""
    moved = 0
    new = pseudonym_for(settings, number)
    for old_key, old in old_pseudonyms(settings, number):
        names = [keys.session(old), *(marker(old) for marker in MARKERS)]
        present = redis.exists(*names)
        if not present:
            continue
        moved += _move_session(redis, settings, number, old_key, old, new)
        for marker in MARKERS:
            moved += _move_marker(redis, marker, old, new)
    return moved


def _move_marker(redis: Redis, marker, old: str, new: str) -> int:  # noqa: ANN001
    value = redis.get(marker(old))
    if value is None:
        return 0
    if marker is keys.completed_waves:
        # Waves completed under either pseudonym: both lists count.
        mine = set((redis.get(marker(new)) or b"").split(b",")) | set(value.split(b","))
        value = b",".join(sorted(w for w in mine if w))
    elif marker is keys.opt_messages:
        # Marks of messages digested under either key (the webhook checks both in a rotation).
        value = (redis.get(marker(new)) or b"") + value
    with redis.pipeline() as pipe:
        pipe.set(marker(new), value, nx=marker not in _MERGED)
        pipe.delete(marker(old))
        pipe.execute()
    return 1


def _move_session(
    redis: Redis, settings: Settings, number: str, old_key: str, old: str, new: str
) -> int:
    raw = redis.get(keys.session(old))
    if raw is None:
        return 0
    ttl = max(1, int(redis.ttl(keys.session(old))))
    value = raw
    if raw.startswith(ENCRYPTED):
        try:
            plain = conversation_cipher(old_key, number).decrypt(raw[len(ENCRYPTED) :])
        except SealError:
            plain = None
        new_cipher = conversation_cipher(settings.PSEUDONYM_KEY, number)
        value = None if plain is None else ENCRYPTED + new_cipher.encrypt(plain)
    with redis.pipeline() as pipe:
        if value is not None:
            pipe.set(keys.session(new), value, ex=ttl, nx=True)
        pipe.delete(keys.session(old))
        pipe.execute()
    return 1


def carry_over_opt_out(session: Session, settings: Settings, number: str) -> bool:
    """Whether the database holds an opt-out of this number under an old key; if so it is
    written under the current one (within the caller's transaction)."""
    found = False
    for _, old in old_pseudonyms(settings, number):
        row = session.get(OptOut, old)
        if row is None:
            continue
        found = True
        current = pseudonym_for(settings, number)
        if session.get(OptOut, current) is None:
            session.add(OptOut(pseudonym=current, since=row.since))
        session.delete(row)
    return found


@dataclass(frozen=True)
class KeyUse:
    """What still depends on one pseudonym key version."""

    version: str
    redis_keys: int  # sessions and markers
    opt_outs: int  # rows of the opt-out table
    caches: int = 0  # replies cached for Twilio's retries: gone within MESSAGE_DEDUP_TTL

    @property
    def unused(self) -> bool:
        return self.redis_keys == 0 and self.opt_outs == 0 and self.caches == 0


def key_use(redis: Redis, session: Session | None, settings: Settings) -> list[KeyUse]:
    """Per key version (current first), how many Redis keys and stored opt-outs use it."""
    in_redis: Counter[str] = Counter()
    caches: Counter[str] = Counter()
    for name in redis.scan_iter(match=f"{keys.PREFIX}:{{*}}:*", count=1000):
        inside, rest = name.decode().split("{", 1)[1].split("}", 1)
        version = inside.split(":", 1)[0] if ":" in inside else ""
        (caches if rest.startswith(":msg:") else in_redis)[version] += 1
    stored: Counter[str] = Counter()
    if session is not None:
        for p in session.exec(select(OptOut.pseudonym)):
            stored[p.split(":", 1)[0]] += 1
    versions = [settings.PSEUDONYM_KEY_VERSION, *(v for v, _ in settings.old_pseudonym_keys)]
    return [KeyUse(v, in_redis[v], stored[v], caches[v]) for v in versions]
