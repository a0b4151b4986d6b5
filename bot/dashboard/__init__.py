"""/dashboard: the organizers' web pages (server-rendered, no JavaScript needed).

Every view is wrapped by `require_role` (or marked `public`, the sign-in page only); every POST
carries the session's CSRF token. Only published figures reach a page or a CSV: the report
goes through `bot.releases.report.publish` (small-cell suppression), and every other count
shown here (invitations, drop-off, started by language) is suppressed by the same rules
(bot.releases.figures). The one exception is the row-level export, for admins only, after a
warning and an explicit confirm.

One blueprint (bot.dashboard.blueprint), with a module of views per group of pages; importing
them here registers their routes. Every page is a template under templates/dashboard/.
"""

from __future__ import annotations

from flask import Flask

from bot.dashboard import (  # noqa: F401  (importing a view module registers its routes)
    errors,
    views_account,
    views_exports,
    views_invitations,
    views_reports,
    views_users,
    views_waves,
)
from bot.dashboard.blueprint import bp
from bot.dashboard.db import close_db
from bot.dashboard.security import security_headers

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    """Register the dashboard, its security headers and its per-request database session."""
    app.register_blueprint(bp)
    app.after_request(security_headers)
    app.teardown_appcontext(close_db)
