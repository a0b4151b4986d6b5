"""The database engine, one per URL per process, and sessions per job or request.

A pooled connection belongs to the process that opened it. RQ's worker forks a work horse per
job: a horse that used a connection inherited from the worker would share its socket and server
session with the worker and with every later horse (with psycopg's prepared statements, the
second horse fails with DuplicatePreparedStatement). So a forked child forgets, without closing,
every connection its parent had pooled, and opens its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event
from sqlmodel import Session, create_engine


def normalize_url(url: str) -> str:
    """Accept the common `postgres://` and `postgresql://` spellings; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_ENGINES: dict[str, Engine] = {}  # one per URL, for this process
_ENGINES_LOCK = threading.Lock()


def get_engine(url: str) -> Engine:
    """A pooled engine for this URL (created once per process)."""
    engine = _ENGINES.get(url)
    if engine is None:
        with _ENGINES_LOCK:
            engine = _ENGINES.get(url) or _create_engine(url)
            _ENGINES[url] = engine
    return engine


def _create_engine(url: str) -> Engine:
    """hide_parameters: a failed INSERT's error (logged by the worker, kept in RQ's failed
    job) must not carry the answers it tried to write."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    engine = create_engine(
        url, hide_parameters=True, pool_pre_ping=True, connect_args={"connect_timeout": 5}
    )
    if url.startswith("postgresql"):
        event.listen(engine, "connect", _end_with_the_client)
    return engine


# How often (ms) PostgreSQL checks, during a query, that the client is still there.
CLIENT_CHECK_INTERVAL_MS = 5000


def _end_with_the_client(dbapi_connection, _record) -> None:  # noqa: ANN001
    """Ask the server to notice a client that went away mid-query: a work horse killed
    during a long statement would otherwise leave its transaction, and its locks, on the
    server until the statement ended (PostgreSQL 14 and later; older servers skip it)."""
    if dbapi_connection.info.server_version < 140000:
        return
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET client_connection_check_interval = {CLIENT_CHECK_INTERVAL_MS}")
    dbapi_connection.commit()


def _forget_inherited_connections() -> None:
    """In a freshly forked child: drop the parent's pooled connections without closing them
    (closing would end the parent's sessions on the server)."""
    for engine in list(_ENGINES.values()):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def dispose_engines() -> None:
    """Close every pooled connection of this process (e.g. before a worker starts forking)."""
    for engine in list(_ENGINES.values()):
        engine.dispose()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url)) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
