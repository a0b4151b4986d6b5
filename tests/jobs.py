"""Jobs that exist only for tests run by a real worker process (it imports them by path)."""

from __future__ import annotations

import os
import time

from rq import get_current_job
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


def counted_nap(key: str, first: float, again: float = 0.2) -> int:
    """Count this run in Redis (INCR `key`) and note the work horse's pid (list `key`:pids), then
    sleep `first` seconds on the first run and `again` on any later one: a second run of the
    same job shows in the count."""
    connection = get_current_job().connection
    connection.rpush(f"{key}:pids", os.getpid())
    runs = connection.incr(key)
    time.sleep(first if runs == 1 else again)
    return runs


def nap_in_a_transaction(key: str, seconds: float) -> None:
    """Note the work horse's pid (list `key`:pids) and its database session's
    (`key`:backends), then hold a database transaction open: a
    row written and a sleep inside one explicit transaction, as a storage batch would be when
    its horse is killed."""
    connection = get_current_job().connection
    with get_engine(context.settings().DATABASE_URL).connect() as db:
        with db.begin():
            db.execute(text("CREATE TEMPORARY TABLE IF NOT EXISTS held (n int)"))
            db.execute(text("INSERT INTO held VALUES (1)"))
            backend = db.execute(text("SELECT pg_backend_pid()")).scalar()
            connection.rpush(f"{key}:backends", backend)
            connection.rpush(f"{key}:pids", os.getpid())
            db.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
