"""Signing in and out of the dashboard, who is signed in, and the views' role checks.

The Flask side of the accounts (bot.dashboard.accounts): a sign-in starts a server-side session
(bot.dashboard.sessions) with a fresh CSRF token; every request reads its account again from
the database, so a disabled account or a changed password ends its sessions at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import flask
from flask import abort, g, redirect, request, url_for

from bot.dashboard.accounts import Role, has_role, password_fingerprint
from bot.dashboard.db import db
from bot.dashboard.sessions import end_session, resume_session, start_session
from bot.infra.models import User
from bot.web.state import state


def sign_in(user: User) -> None:
    """Start a fresh session for this account (a new id and CSRF token: no fixation)."""
    flask.session.clear()
    flask.session["sid"] = start_session(state().redis, user)
    flask.session["csrf"] = secrets.token_urlsafe(32)
    g.dashboard_user = user


def sign_out() -> None:
    """End the current session, here and in Redis."""
    sid = flask.session.get("sid")
    if sid:
        end_session(state().redis, sid)
    flask.session.clear()
    g.dashboard_user = None


def current_user() -> User | None:
    """The signed-in account of this request, or None."""
    if "dashboard_user" in g:
        return g.dashboard_user
    user = None
    sid = flask.session.get("sid")
    if isinstance(sid, str):
        redis = state().redis
        record = resume_session(redis, sid)
        if record is not None:
            user = db().get(User, record["user"])
            if user is None or user.disabled or record["pw"] != password_fingerprint(user):
                end_session(redis, sid)
                user = None
        if user is None:
            flask.session.pop("sid", None)
    g.dashboard_user = user
    return user


F = TypeVar("F", bound=Callable[..., Any])


def require_role(role: Role | str) -> Callable[[F], F]:
    """Let a view run only for a signed-in account with at least this role.

    Anonymous visitors go to the sign-in page; a signed-in account without the role gets 403.
    """
    needed = Role(role)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                target = None
                if request.method == "GET":
                    target = request.full_path.rstrip("?")
                return redirect(url_for("dashboard.sign_in", next=target))
            if not has_role(user, needed):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = needed  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def public(view: F) -> F:
    """Mark a dashboard view as open to anonymous visitors (sign-in only)."""
    view.required_role = None  # type: ignore[attr-defined]
    return view
