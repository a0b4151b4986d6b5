"""Opt-outs Twilio reports (error 21610): the recipient texted STOP to our sender."""

from __future__ import annotations

from redis import Redis
from redis.exceptions import WatchError
from rq import Queue

from bot.infra import clock, keys
from bot.infra.config import Settings
from bot.infra.privacy import message_digest
from bot.infra.queues import enqueue_opt_out


def mark_opted_out(redis: Redis, queue: Queue, pseudonym_: str, *, pipeline=None) -> None:  # noqa: ANN001
    """Twilio says this respondent opted out (error 21610): never text them again."""
    pipe = pipeline if pipeline is not None else redis.pipeline()
    if not pipe.explicit_transaction:
        pipe.multi()  # RQ enqueues into a MULTI only (before any other command)
    pipe.set(keys.opted_out(pseudonym_), "1")
    pipe.delete(keys.invited(pseudonym_))
    enqueue_opt_out(queue, pseudonym_, clock.today().isoformat(), opted_out=True, pipeline=pipe)
    if pipeline is None:
        pipe.execute()


def opted_out_once(
    settings: Settings, redis: Redis, queue: Queue, pseudonym_: str, message_sid: str
) -> None:
    """A 21610 callback marks its recipient opted out once per message: the callback is signed
    for ever, so a replay after they opted back in must change nothing (keys.opt_messages)."""
    if not message_sid:
        mark_opted_out(redis, queue, pseudonym_)
        return
    digest = message_digest(settings.PSEUDONYM_KEY, message_sid)
    marks_key = keys.opt_messages(pseudonym_)
    with redis.pipeline() as pipe:
        while True:
            try:
                pipe.watch(marks_key)
                if keys.opt_marked(pipe.get(marks_key), digest):
                    return
                pipe.multi()
                pipe.append(marks_key, keys.opt_mark(digest))
                mark_opted_out(redis, queue, pseudonym_, pipeline=pipe)
                pipe.execute()
                return
            except WatchError:
                continue
