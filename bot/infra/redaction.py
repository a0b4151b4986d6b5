"""Redis error texts without key names: a log line never says whose conversation failed.

redis-py writes the command that failed into its error text: a pipeline's error starts with
"Command # 3 (SET sb:{v1:<pseudonym>}:session <value>...) of pipeline caused error: ...", and
some errors quote a key. A key holds a respondent's pseudonym, and a command holds the value
written (encrypted, but still nobody's business in a log). Every log record of the process
passes through `scrub` (`install_log_scrubber`): the message, its arguments, and the Redis
errors attached to it, whatever logged it (Flask's "Exception on /twilio/sms", gunicorn, RQ's
"Traceback ..." of a failed job, the bot's own lines). The traceback RQ keeps with a failed
job in Redis (its `exc_info`, in the append-only file) goes through `scrub` too
(workers/worker.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from redis.exceptions import RedisError

# "Command # 3 (SET sb:{...}:session b'...') of pipeline": keep the command's name only.
_PIPELINE_COMMAND = re.compile(r"(Command # \d+ \()(\S+)[^)]*(\) of pipeline)", re.DOTALL)
# Any key of the project (bot/infra/keys.py: every key starts with "sb:").
_KEY = re.compile(r"\bsb:[^\s'\",)\]]+")
# A pseudonym anywhere else ("v1:" + 64 hex digits; bot/infra/privacy.py).
_PSEUDONYM = re.compile(r"\bv\d+:[0-9a-f]{32,}\b")
# A phone number in E.164 (Twilio's error texts quote the number they refused: "The 'To'
# number +1305... is not a valid phone number"), possibly written with spaces or dashes.
_NUMBER = re.compile(r"\+\d(?:[\d \-.()]{5,20})\d")
KEY_PLACEHOLDER = "sb:<key>"
PSEUDONYM_PLACEHOLDER = "<pseudonym>"
NUMBER_PLACEHOLDER = "<number>"


def scrub(text: str) -> str:
    """`text` with every Redis key name, pseudonym, phone number and pipeline command argument
    replaced."""
    if "+" in text:
        text = _NUMBER.sub(NUMBER_PLACEHOLDER, text)
    if ":" not in text:  # no key, pseudonym or pipeline error: the common case, at once
        return text
    text = _PIPELINE_COMMAND.sub(r"\1\2 ...\3", text)
    text = _KEY.sub(KEY_PLACEHOLDER, text)
    return _PSEUDONYM.sub(PSEUDONYM_PLACEHOLDER, text)


def scrub_exception(exc: BaseException | None) -> None:
    """Scrub the text of a Redis error and of every error chained to it, in place (what a
    traceback prints is the error's args)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, RedisError):
            exc.args = tuple(scrub(a) if isinstance(a, str) else a for a in exc.args)
        exc = exc.__cause__ or exc.__context__


def _scrub_record(record: logging.LogRecord) -> None:
    if isinstance(record.msg, str):
        record.msg = scrub(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(scrub(a) if isinstance(a, str) else _scrub_arg(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: scrub(v) if isinstance(v, str) else v for k, v in record.args.items()}
    if record.exc_info and record.exc_info[1] is not None:
        scrub_exception(record.exc_info[1])


def _scrub_arg(value: object) -> object:
    if isinstance(value, RedisError):
        scrub_exception(value)
    return value


_installed: list[Callable[..., logging.LogRecord]] = []


def install_log_scrubber() -> None:
    """Scrub every log record this process makes from now on (idempotent). A record factory
    sees the records of every logger, those whose handlers are set up later included."""
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:  # noqa: ANN002, ANN003
        record = previous(*args, **kwargs)
        try:
            _scrub_record(record)
        except Exception:  # noqa: BLE001 - a log line must never raise
            record.msg, record.args = "log record dropped: it could not be scrubbed", None
        return record

    logging.setLogRecordFactory(factory)
    _installed.append(previous)
