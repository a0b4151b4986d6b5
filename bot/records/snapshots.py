"""The questionnaire each conversation of the implicit wave started with, kept while in use.

An opened wave answers from the snapshot taken when it opened (bot/outreach/waves.py). The
implicit wave (no wave ever opened) answers from the questionnaire file, read when a web
process starts: editing the file and reloading the web tier would otherwise switch every
conversation in flight to the new file, and someone waiting on a question the edit removed
would be lost. So a conversation records the digest of the questionnaire it walks (in its
encrypted envelope), and the text of that questionnaire is kept in Redis under its digest
(`keys.questionnaire_snapshot`) for as long as any conversation uses it: every step that keeps
a conversation in the implicit wave renews the snapshot's expiry to the session's own, so the
snapshot outlives the last conversation that names it and then goes by itself. A conversation
started before an edit finishes on the questionnaire it started with; new ones get the new file.

Why not refuse to start a web process whose file differs from the one in use while
conversations are open: a conversation is encrypted under its respondent's own key (the web tier
opens it only when that person writes), so there is no way to list what is in flight short of
waiting out SESSION_TTL_HOURS; and a refusal would block a restart or an urgent fix (a wrong
hotline number) for that long. Keeping the snapshot costs one small EXPIRE per message.

The snapshot is written on its own, never inside a respondent's transaction: that MULTI names
the respondent's pseudonym, and the questionnaire's text would put question ids beside it in
Redis's append-only file. When the snapshot is gone all the same (lost with Redis's data), the
conversation goes on under the questionnaire at hand and the engine makes the session fit it
(bot/core/engine/reconcile.py).
"""

from __future__ import annotations

import logging

from redis import Redis
from redis.client import Pipeline

from bot.core.questionnaire import Questionnaire, parse_questionnaire
from bot.infra import keys
from bot.infra.exceptions import QuestionnaireError

log = logging.getLogger(__name__)

# Parsed snapshots a web process keeps: one per edit of the file still in use, so a few.
MAX_PARSED = 8


class Snapshots:
    """Questionnaires by digest: parsed once per process, read from Redis when first needed."""

    def __init__(self) -> None:
        self._parsed: dict[str, Questionnaire] = {}

    def load(self, redis: Redis, digest: str) -> Questionnaire | None:
        """The questionnaire of this digest, or None when its snapshot is gone (or unreadable)."""
        found = self._parsed.get(digest)
        if found is not None:
            return found
        raw = redis.get(keys.questionnaire_snapshot(digest))
        if raw is None:
            return None
        try:
            found = parse_questionnaire(raw.decode("utf-8"))
        except (QuestionnaireError, UnicodeDecodeError):
            log.warning("a questionnaire snapshot could not be read; it is not used")
            return None
        if found.digest != digest:
            return None
        if len(self._parsed) >= MAX_PARSED:
            self._parsed.pop(next(iter(self._parsed)))
        self._parsed[digest] = found
        return found


def renew(pipe: Pipeline, q: Questionnaire, ttl: int) -> None:
    """Queue the renewal of `q`'s snapshot in a conversation's transaction (its result is
    false when there is no snapshot to renew: then `restore` after the transaction)."""
    pipe.expire(keys.questionnaire_snapshot(q.digest), ttl)


def restore(redis: Redis, q: Questionnaire, ttl: int) -> None:
    """Write `q`'s snapshot (unless another process just did), on its own."""
    if q.source:
        redis.set(keys.questionnaire_snapshot(q.digest), q.source, nx=True, ex=ttl)
