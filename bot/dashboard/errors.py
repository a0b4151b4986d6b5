"""The dashboard's error pages: its own page for HTTP errors and for an outage of Redis or the
database (a 503 with Retry-After, not a bare 500)."""

from __future__ import annotations

from flask import g, render_template
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from bot.dashboard.blueprint import bp
from bot.web import outages


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):  # noqa: ANN202
    if exc.code is not None and exc.code < 400:
        return exc
    return render_template("dashboard/error.html", error=exc), exc.code or 500


def _outage_page(exc: Exception):  # noqa: ANN202
    """Redis or the database is down: the dashboard's own 503 page, not a bare 500."""
    service = outages.log_outage(exc)
    # Who is signed in cannot be known now, and asking again would fail again.
    g.dashboard_user = None
    error = ServiceUnavailable(description=outages.MESSAGES[service])
    page = render_template("dashboard/error.html", error=error)
    return page, 503, {"Retry-After": str(outages.RETRY_AFTER_SECONDS)}


for _outage in outages.OUTAGES:
    bp.register_error_handler(_outage, _outage_page)
