"""A wave's report page: the coalition's email as it would be sent, week by week."""

from __future__ import annotations

from flask import Response, render_template, request

from bot.dashboard.accounts import Role
from bot.dashboard.auth import require_role
from bot.dashboard.blueprint import bp
from bot.dashboard.helpers import latest_release, wave_or_404, week_choice
from bot.dashboard.security import PREVIEW_CSP
from bot.releases.email_report import STRINGS as EMAIL_LANGUAGES
from bot.web.state import state


def _report_choice(name: str) -> tuple[str | None, str, list[str]]:
    """The week (None: the whole wave) and the email language asked for, and every week."""
    week, weeks = week_choice(name)
    language = request.args.get("language", state().settings.REPORT_LANGUAGE)
    if language not in EMAIL_LANGUAGES:
        language = "en"
    return week, language, weeks


@bp.get("/waves/<name>/report")
@require_role(Role.VIEWER)
def report(name: str):  # noqa: ANN201
    """The coalition's email for this wave, as it would be sent (published numbers only)."""
    record = wave_or_404(name)
    week, language, weeks = _report_choice(name)
    return render_template(
        "dashboard/report.html",
        wave=record,
        weeks=weeks,
        week=week,
        language=language,
        languages=sorted(EMAIL_LANGUAGES),
    )


@bp.get("/waves/<name>/report/email")
@require_role(Role.VIEWER)
def report_email(name: str):  # noqa: ANN201
    """The email's HTML alone, for the preview frame (its own, looser CSP)."""
    from bot.infra import clock
    from bot.infra.weeks import parse_week
    from bot.releases.email_report import render_report
    from bot.releases.releases import released_reports, unreleased
    from bot.releases.report import questionnaire_of

    record = wave_or_404(name)
    week, language, _ = _report_choice(name)
    app_state = state()
    q = questionnaire_of(app_state.settings, record.name)  # the wave's own snapshot
    current, previous, so_far = released_reports(latest_release(record.name), week)
    if current is None:
        period = parse_week(week) if week else (clock.today(), clock.today())
        current = unreleased(record.name, period, app_state.settings.SMALL_CELL_MIN)
    so_far = None if week is None else so_far
    html = render_report(current, previous, q, language=language, so_far=so_far).html
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
