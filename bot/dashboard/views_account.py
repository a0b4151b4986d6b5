"""Signing in and out, and changing your own password."""

from __future__ import annotations

import logging

from flask import current_app, flash, redirect, render_template, request, url_for

from bot.dashboard import accounts, auth
from bot.dashboard.accounts import Role
from bot.dashboard.auth import current_user, public, require_role
from bot.dashboard.blueprint import bp
from bot.dashboard.db import db
from bot.dashboard.throttle import Throttle, wait_phrase
from bot.web.state import state

log = logging.getLogger("surveybot.dashboard")


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/dashboard") and not target.startswith("//"):
        return target
    return url_for("dashboard.waves")


def _throttle() -> Throttle:
    return Throttle(state().redis, current_app.config["SECRET_KEY"])


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():  # noqa: ANN201
    """The sign-in form: email and password."""
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(target)
        # The form needs neither, but signing in needs both: an outage shows now, before
        # someone types a password, not after.
        state().redis.ping()
        db().connection()
        return render_template("dashboard/sign_in.html", next=target, email="")
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    throttle = _throttle()
    address = request.remote_addr or "unknown"
    wait = throttle.attempt(email, address)
    if wait:
        log.warning("dashboard sign-in refused: too many failures")
        error = f"Too many failed sign-in attempts. Wait {wait_phrase(wait)}, then try again."
        page = render_template("dashboard/sign_in.html", next=target, email=email, error=error)
        return page, 429, {"Retry-After": str(wait)}
    user = accounts.authenticate(db(), email, password)
    if user is None:
        log.warning("dashboard sign-in failed")  # never the typed email: it may be a password
        error = "That email and password do not match an account."
        return render_template("dashboard/sign_in.html", next=target, email=email, error=error), 401
    throttle.succeeded(email, address)
    auth.sign_in(user)
    log.info("dashboard sign-in: account %s", user.id)
    return redirect(target)


@bp.post("/sign-out")
@require_role(Role.VIEWER)
def sign_out():  # noqa: ANN201
    """End this session."""
    auth.sign_out()
    flash("You are signed out.")
    return redirect(url_for("dashboard.sign_in"))


@bp.route("/account", methods=["GET", "POST"])
@require_role(Role.VIEWER)
def account():  # noqa: ANN201
    """Change your own password."""
    if request.method == "POST":
        changed = _change_password()
        if changed:
            return redirect(url_for("dashboard.account"))
    return render_template("dashboard/account.html", min_length=accounts.MIN_PASSWORD_LENGTH)


def _change_password() -> bool:
    """Check the form and change the password (True), or flash why not (False)."""
    user = current_user()
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    throttle = _throttle()
    address = request.remote_addr or "unknown"
    wait = throttle.attempt(user.email, address)
    if wait:
        flash(f"Too many wrong passwords. Wait {wait_phrase(wait)}, then try again.", "error")
        return False
    if accounts.authenticate(db(), user.email, current) is None:
        flash("Your current password is not right.", "error")
        return False
    throttle.succeeded(user.email, address)
    if new != request.form.get("confirm_password", ""):
        flash("The two new passwords are not the same.", "error")
        return False
    try:
        user = accounts.set_password(db(), user, new)
    except accounts.AccountError as exc:
        flash(f"The password was not changed: {exc}.", "error")
        return False
    auth.sign_in(user)  # the old session ended with the old password
    flash("Your password is changed; other sessions are signed out.")
    return True
