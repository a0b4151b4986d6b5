"""The database session of a dashboard request, opened on first use and closed at teardown."""

from __future__ import annotations

from flask import g
from sqlmodel import Session

from bot.infra.db import get_engine
from bot.web.state import state


def db() -> Session:
    """The database session of this request (closed by `close_db`)."""
    if "dashboard_db" not in g:
        g.dashboard_db = Session(get_engine(state().settings.DATABASE_URL))
    return g.dashboard_db


def close_db(_exc: BaseException | None = None) -> None:
    """Close the request's database session, if it opened one."""
    session = g.pop("dashboard_db", None)
    if session is not None:
        session.close()
