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
