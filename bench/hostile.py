"""Hostile input: correctly signed Twilio requests full of odd Unicode; counts server errors.

Run:  python bench/hostile.py                 (10,000 requests; --requests N, --seed S)
      python bench/hostile.py --redis-url redis://127.0.0.1:6379/15   (a Redis to use: flushed!)

Respondents text the bot and callers call it, in-process through Flask's test client, every
request signed as Twilio signs it, and answer with texts, keys and speech results drawn from
the corners of Unicode: the decimal digits of every script (Nd), other numeric characters that
`str.isdigit()` accepts but `int()` refuses (No: '፩', '᧚', '²', '①'), letter numbers (Nl),
fullwidth forms, combining marks, format and control characters, private use, long runs of
digits, mixed with ordinary answers ("1", "1 3", "yes") that move the conversation forward so
that every stage (language, consent, each question) gets hostile replies. Prints how many
requests got each status, and the 5xx count (the aim: 0), with the first offending inputs.
Without --redis-url a dedicated redis-server is started and stopped; no database is needed
(the request path never touches it).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/hostile.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PUBLIC_BASE_URL = "https://bot.example.org"
AUTH_TOKEN = "bench-hostile-auth-token-0123456789"
ACCOUNT = "AC" + "0" * 32
BOT_NUMBER = "+15005550006"
ORDINARY = ("1", "2", "3", "1 3", "1,2", "yes", "no", "SURVEY", "0", "9", "*", "HELP", "")
# Every general category a hostile character is drawn from (surrogates cannot be sent).
CATEGORIES = ("Nd", "No", "Nl", "Mn", "Mc", "Me", "Cf", "Cc", "Co", "Zs", "Sm", "So", "Lo")


@cache
def characters() -> dict[str, tuple[str, ...]]:
    """Every code point of each category in CATEGORIES, plus the fullwidth forms."""
    pools: dict[str, list[str]] = {name: [] for name in CATEGORIES}
    for point in range(sys.maxunicode + 1):
        ch = chr(point)
        category = unicodedata.category(ch)
        if category in pools:
            pools[category].append(ch)
    pools["fullwidth"] = [chr(p) for p in range(0xFF01, 0xFF5F)]
    pools["isdigit but not decimal"] = [
        ch for ch in pools["No"] if ch.isdigit() and unicodedata.decimal(ch, None) is None
    ]
    return {name: tuple(chars) for name, chars in pools.items()}


def hostile_text(rng: random.Random) -> str:
    """One hostile reply: odd characters, alone or mixed with digits, words and separators."""
    pools = characters()
    kind = rng.randrange(10)
    if kind == 0:  # a long run: thousands of digits after compatibility normalization
        return rng.choice(("⑳", "9", "٩", "²", "፩", "1 ")) * rng.choice((400, 1600, 1601, 3300))
    parts = []
    for _ in range(rng.randint(1, 6)):
        pool = pools[rng.choice(sorted(pools))]
        piece = rng.choice(pool) + (rng.choice("\u0301\u0663\u20e3") if rng.random() < 0.2 else "")
        parts.append(piece)
        if rng.random() < 0.4:
            parts.append(rng.choice(("1", "3", " ", ",", " y ", "13", "-", "#", "*")))
    return "".join(parts)


@dataclass
class Request:
    """One signed webhook request: path (with query), form, signature."""

    path: str
    form: dict[str, str]
    signature: str = ""
    label: str = ""


def _sign(validator: Any, request: Request) -> Request:
    request.signature = validator.compute_signature(PUBLIC_BASE_URL + request.path, request.form)
    return request


def _sms(sender: str, body: str) -> Request:
    sid = "SM" + uuid.uuid4().hex
    form = {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": sender,
        "MessageSid": sid,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": BOT_NUMBER,
    }
    return Request("/twilio/sms", form, label=f"sms Body={body[:40]!r}")


def _call(sender: str, call_sid: str, n: int, **extra: str) -> Request:
    form = {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "From": sender,
        "To": BOT_NUMBER,
        **extra,
    }
    path = "/twilio/voice" if n == 0 else f"/twilio/voice/gather?n={n}"
    return Request(path, form, label=f"voice n={n} {extra!r:.60}")


def _sender(rng: random.Random, index: int) -> str:
    if rng.random() < 0.05:  # a caller ID of odd characters, or of digits of another script
        return rng.choice(
            ("+١٣٠٥٥٥٥٠١٢٣", "+፩፪፫፬፭፮፯፰", "anonymous", "", "+1555" + hostile_text(rng))
        )
    return f"+1555{index:07d}"


def texter(rng: random.Random, index: int) -> Iterator[Request]:
    """A respondent's texts: start, consent, then hostile replies among ordinary answers."""
    sender = _sender(rng, index)
    yield _sms(sender, rng.choice(("SURVEY", "START", hostile_text(rng))))
    yield _sms(sender, "1")
    while True:
        yield _sms(sender, hostile_text(rng) if rng.random() < 0.6 else rng.choice(ORDINARY))


def caller(rng: random.Random, index: int) -> Iterator[Request]:
    """A caller's steps: the call answered, language and consent, then hostile keys and speech."""
    sender, call_sid = _sender(rng, index), "CA" + uuid.uuid4().hex
    yield _call(sender, call_sid, 0)
    yield _call(sender, call_sid, 1, Digits="1")
    yield _call(sender, call_sid, 2, Digits="1")
    n = 3
    while True:
        which = rng.random()
        if which < 0.4:
            yield _call(sender, call_sid, n, Digits=hostile_text(rng))
        elif which < 0.8:
            yield _call(sender, call_sid, n, SpeechResult=hostile_text(rng), Confidence="0.9")
        else:
            yield _call(sender, call_sid, n, Digits=rng.choice(("1", "2", "13", "*", "0", "9#")))
        n += 1


def hostile_requests(count: int, seed: int, auth_token: str = AUTH_TOKEN) -> list[Request]:
    """`count` signed requests: respondents and callers taking turns, 5 to 15 requests each."""
    from twilio.request_validator import RequestValidator

    rng, validator = random.Random(seed), RequestValidator(auth_token)
    requests: list[Request] = []
    index = 0
    while len(requests) < count:
        source = (texter if index % 2 == 0 else caller)(rng, index)
        for _ in range(min(rng.randint(5, 15), count - len(requests))):
            requests.append(_sign(validator, next(source)))
        index += 1
    return requests


@dataclass
class Outcome:
    """What the requests got: statuses counted, and the first few server errors."""

    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        """How many requests got a 5xx (or raised)."""
        return sum(n for status, n in self.statuses.items() if status >= 500)


def send(client: Any, requests: Sequence[Request]) -> Outcome:
    """POST every request through a Flask test client; a request that raises counts as 500."""
    outcome = Outcome()
    for request in requests:
        try:
            response = client.post(
                request.path, data=request.form, headers={"X-Twilio-Signature": request.signature}
            )
            status = response.status_code
        except Exception as exc:  # noqa: BLE001 - a crash is what this bench counts
            status = 500
            request.label += f" raised {type(exc).__name__}: {exc}"
        outcome.statuses[status] += 1
        if status >= 500 and len(outcome.errors) < 10:
            outcome.errors.append(request.label)
    return outcome


def app_settings(redis_url: str) -> dict[str, str]:
    """Settings of the app under test: the request path only (no database reachable)."""
    return {
        "SURVEYBOT_ENV": "test",
        "REDIS_URL": redis_url,
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nowhere",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "INSTANCE_PATH": tempfile.mkdtemp(prefix="bench-hostile-"),
        "SECRET_KEY": "bench-hostile-secret-key-0123456789",
        "PSEUDONYM_KEY": "bench-hostile-pseudonym-key-0123456789",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": "",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--redis-url", default="", help="a Redis to use (flushed!)")
    args = parser.parse_args(argv)

    from redis import Redis

    from bench.services import start_redis, stop_process
    from bot import create_app

    process, url = (
        (None, args.redis_url) if args.redis_url else start_redis(Path(tempfile.mkdtemp()))
    )
    try:
        Redis.from_url(url).flushdb()
        app = create_app(app_settings(url))
        requests = hostile_requests(args.requests, args.seed)
        outcome = send(app.test_client(), requests)
        app.extensions["surveybot"].redis.close()
    finally:
        stop_process(process)
    by_status = ", ".join(f"{status}: {n}" for status, n in sorted(outcome.statuses.items()))
    print(f"{len(requests)} signed hostile requests (seed {args.seed}); statuses {by_status}")
    print(f"server errors (5xx): {outcome.server_errors}")
    for label in outcome.errors:
        print(f"  {label}")
    return 1 if outcome.server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
