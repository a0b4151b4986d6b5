"""Signing in and out, and changing your own password."""

from __future__ import annotations

import logging

from flask import current_app, flash, redirect, render_template, request, url_for

from bot.dashboard import accounts, auth
from bot.dashboard.accounts import Role
from bot.dashboard.auth import current_user, public, require_role
from bot.dashboard.blueprint import bp
from bot.dashboard.db import db
from bot.dashboard.throttle import LOCKOUT_SECONDS, Throttle
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
    if throttle.locked(email, address):
        log.warning("dashboard sign-in refused: too many failures")
        error = (
            f"Too many failed sign-in attempts. Wait {LOCKOUT_SECONDS // 60} minutes, "
            "then try again."
        )
        return render_template("dashboard/sign_in.html", next=target, email=email, error=error), 429
    user = accounts.authenticate(db(), email, password)
    if user is None:
        throttle.failed(email, address)
        log.warning("dashboard sign-in failed")  # never the typed email: it may be a password
        error = "That email and password do not match an account."
        return render_template("dashboard/sign_in.html", next=target, email=email, error=error), 401
    throttle.succeeded(email)
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
    if throttle.locked(user.email, address):
        flash("Too many wrong passwords. Wait a while, then try again.", "error")
    elif accounts.authenticate(db(), user.email, current) is None:
        throttle.failed(user.email, address)
        flash("Your current password is not right.", "error")
    elif new != request.form.get("confirm_password", ""):
        flash("The two new passwords are not the same.", "error")
    else:
        try:
            user = accounts.set_password(db(), user, new)
        except accounts.AccountError as exc:
            flash(f"The password was not changed: {exc}.", "error")
        else:
            auth.sign_in(user)  # the old session ended with the old password
            flash("Your password is changed; other sessions are signed out.")
            return True
    return False
