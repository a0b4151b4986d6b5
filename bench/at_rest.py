"""What encryption at rest costs per message: the conversation step with and without it.

Each round drives the same complete surveys through `bot.records.sessions.handle_message` (the
whole per-message path behind the webhook, without HTTP) on a dedicated redis-server, twice:

- baseline: conversation values written in clear and inbox records not sealed (what the bot
  did before: the same Redis round trips, the same transaction);
- at rest: each session and cached reply encrypted under the number's key, and every completed
  response and per-respondent counter sealed to the storage key (bot/infra/sealing.py).

It prints CPU per message of this process (where all the crypto runs) for both, and the ratio;
rounds alternate so a busy machine slows both alike. Usage:

    python bench/at_rest.py [--surveys 300] [--rounds 3] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from redis import Redis

from bench.services import bench_number, start_redis, stop_process
from bot.core.questionnaire import load_questionnaire
from bot.infra.config import load_settings
from bot.infra.privacy import message_digest, pseudonym_for
from bot.infra.queues import get_queue
from bot.infra.sealing import ConversationCipher, conversation_cipher
from bot.outreach.waves import RegistryCache
from bot.records import inbox
from bot.records.sessions import Conversation, handle_message

PSEUDONYM_KEY = "bench-pseudonym-key-0123456789abcdef"


class ClearCipher(ConversationCipher):
    """The baseline: values written as they are."""

    def __init__(self) -> None:  # no box
        pass

    def encrypt(self, plain: bytes) -> bytes:
        return plain

    def decrypt(self, sealed: bytes) -> bytes:
        return sealed


@contextmanager
def unsealed_inbox():
    """The baseline inbox: records added in clear (the Redis write is the same)."""
    with mock.patch.object(inbox, "seal", lambda _key, plain: plain):
        yield


def survey_texts(questionnaire) -> list[str]:  # noqa: ANN001
    """A complete English survey by text: start, consent, then "1" (or "1 2") to everything."""
    texts = ["SURVEY", "1"]
    for question in questionnaire.questions:
        texts.append("1 2" if question.type.value == "multi" else "1")
    return texts + ["1"] * 3  # closing replies to stray texts, if any question was skipped


def run(
    conversation: Conversation, numbers: Sequence[str], texts: list[str], clear: bool
) -> tuple[int, float]:
    """Every text of every survey; (messages, CPU seconds of this process)."""
    messages, started = 0, time.process_time()
    for n, number in enumerate(numbers):
        p = pseudonym_for(conversation_settings, number)
        cipher = ClearCipher() if clear else conversation_cipher(PSEUDONYM_KEY, number)
        for i, body in enumerate(texts):
            handle_message(
                conversation,
                pseudonym=p,
                message_digest=message_digest(PSEUDONYM_KEY, f"SM{n:08d}{i:024d}"),
                text=body,
                cipher=cipher,
            )
            messages += 1
    return messages, time.process_time() - started


conversation_settings = load_settings(
    {"SURVEYBOT_ENV": "test", "PSEUDONYM_KEY": PSEUDONYM_KEY}, env_file=None, dev_instance=False
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surveys", type=int, default=300, help="surveys per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-url", default="", help="a Redis to use (flushed!)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-at-rest-"))
    process, url = (None, args.redis_url) if args.redis_url else start_redis(workdir)
    redis = Redis.from_url(url)
    try:
        q = load_questionnaire()
        conversation = Conversation(
            redis=redis,
            queue=get_queue(redis),
            questionnaire=q,
            wave="default",
            session_ttl=3600,
            registry=RegistryCache(),
            storage_public_key=conversation_settings.storage_public_key,
        )
        texts = survey_texts(q)
        per_message: dict[str, list[float]] = {"baseline": [], "at rest": []}
        for round_ in range(args.rounds):
            for name in ("baseline", "at rest") if round_ % 2 == 0 else ("at rest", "baseline"):
                redis.flushdb()
                numbers = [bench_number(i) for i in range(args.surveys)]
                if name == "baseline":
                    with unsealed_inbox():
                        messages, cpu = run(conversation, numbers, texts, clear=True)
                else:
                    messages, cpu = run(conversation, numbers, texts, clear=False)
                per_message[name].append(cpu / messages * 1e6)
                assert inbox.size(redis) > args.surveys, "every survey completed into the inbox"
        print(f"{args.surveys} complete surveys of {len(texts)} texts, {args.rounds} rounds")
        for name, values in per_message.items():
            print(f"  {name:9} CPU per message: {statistics.median(values):7.1f} us (median)")
        ratio = statistics.median(per_message["at rest"]) / statistics.median(
            per_message["baseline"]
        )
        print(f"ratio (at rest / baseline) CPU per message: {ratio:.2f}")
        return 0
    finally:
        redis.close()
        stop_process(process)


if __name__ == "__main__":
    sys.exit(main())
