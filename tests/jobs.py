"""Jobs that exist only for tests run by a real worker process (it imports them by path)."""

from __future__ import annotations

import os

from sqlalchemy import text

from bot.infra.db import get_engine
from workers import context


def database_session_of_this_process() -> tuple[int, int]:
    """(this process's id, the id of the database server session it talks to)."""
    with get_engine(context.settings().DATABASE_URL).connect() as connection:
        return os.getpid(), connection.execute(text("SELECT pg_backend_pid()")).scalar()


def where_am_i() -> int:
    """The process id of the work horse that ran this job."""
    return os.getpid()


def fail_naming_a_key_and_a_number() -> None:
    """Fails as a Redis error and a Twilio error would: naming a key and a phone number."""
    raise RuntimeError(
        "Command # 1 (SET sb:{v1:" + "ab" * 32 + "}:session b'x') of pipeline caused error; "
        "WRONGTYPE at sb:{v1:" + "cd" * 32 + "}:seen; "
        "The 'To' number +1 305-555-0142 is not a valid phone number"
    )
