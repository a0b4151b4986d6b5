"""The dashboard's blueprint and what runs around each of its requests.

Every view is wrapped by `require_role` (or marked `public`, the sign-in page only); every POST
carries the session's CSRF token, checked here before any view runs.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from bot.dashboard import csrf
from bot.dashboard.accounts import has_role
from bot.dashboard.auth import current_user
from bot.web.state import state

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

INVITATION_UPLOAD_MAX_BYTES = 2 * 1024 * 1024  # ~100k numbers; the app's default is 64 KB


@bp.before_request
def _before() -> None:
    if request.endpoint == "dashboard.invitations" and request.method == "POST":
        request.max_content_length = INVITATION_UPLOAD_MAX_BYTES
    csrf.check_csrf()


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    user = current_user()
    return {
        "csrf_token": csrf.csrf_token,
        "user": user,
        "can": (lambda role: user is not None and has_role(user, role)),
        "minimum": state().settings.SMALL_CELL_MIN,
    }
