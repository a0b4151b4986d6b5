"""CSRF: every state-changing dashboard request carries its browser session's token."""

from __future__ import annotations

import hmac
import secrets

import flask
from flask import abort, request


def csrf_token() -> str:
    """This browser session's CSRF token (made on first use)."""
    token = flask.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = flask.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Abort with 400 unless a state-changing request carries this session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = flask.session.get("csrf")
    given = request.form.get("csrf_token", "")
    if (
        not isinstance(expected, str)
        or not expected
        or not hmac.compare_digest(expected.encode(), given.encode())
    ):
        abort(400, description="The form expired or did not come from this site. Try again.")
