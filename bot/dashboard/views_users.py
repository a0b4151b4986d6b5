"""The admins' page of accounts: create one, change a role, disable or enable."""

from __future__ import annotations

import logging

from flask import abort, flash, redirect, render_template, request, url_for

from bot.dashboard import accounts
from bot.dashboard.accounts import Role
from bot.dashboard.auth import current_user, require_role
from bot.dashboard.blueprint import bp
from bot.dashboard.db import db
from bot.dashboard.helpers import flash_error
from bot.infra.models import User

log = logging.getLogger("surveybot.dashboard")


@bp.get("/users")
@require_role(Role.ADMIN)
def users():  # noqa: ANN201
    """Every account, and the form to create one."""
    return render_template(
        "dashboard/users.html",
        users=accounts.list_users(db()),
        roles=list(Role),
        min_length=accounts.MIN_PASSWORD_LENGTH,
    )


@bp.post("/users")
@require_role(Role.ADMIN)
def create_user():  # noqa: ANN201
    """Create an account with a first password (to hand over safely)."""
    try:
        created = accounts.create_user(
            db(),
            email=request.form.get("email", ""),
            role=request.form.get("role", ""),
            password=request.form.get("password", ""),
        )
    except accounts.AccountError as exc:
        flash_error(f"The account was not created: {exc}.")
    else:
        log.info("account %s created by account %s", created.id, current_user().id)
        flash(f"Account {created.email} created as {created.role}.")
    return redirect(url_for("dashboard.users"))


@bp.post("/users/<int:user_id>")
@require_role(Role.ADMIN)
def change_user(user_id: int):  # noqa: ANN201
    """Change another account's role, or disable or enable it."""
    target = db().get(User, user_id)
    if target is None:
        abort(404, description="There is no such account.")
    if target.id == current_user().id:
        flash("You cannot change your own account here (ask another admin).", "error")
        return redirect(url_for("dashboard.users"))
    action = request.form.get("action")
    try:
        if action == "role":
            accounts.set_role(db(), target, request.form.get("role", ""))
            flash(f"{target.email} is now {target.role}.")
        elif action in ("disable", "enable"):
            accounts.set_disabled(db(), target, action == "disable")
            flash(f"{target.email} is {action}d.")
        else:
            abort(400, description="Unknown action.")
    except accounts.AccountError as exc:
        flash_error(exc)
    else:
        log.info("account %s: %s by account %s", target.id, action, current_user().id)
    return redirect(url_for("dashboard.users"))
