"""A wave's downloads: the published aggregate tables for everyone, and the row-level export
for admins only, after a warning and an explicit confirm."""

from __future__ import annotations

import logging
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlmodel import Session, func, select

from bot.dashboard.accounts import Role
from bot.dashboard.auth import current_user, require_role
from bot.dashboard.blueprint import bp
from bot.dashboard.csvfiles import aggregate_rows, export_rows
from bot.dashboard.db import db
from bot.dashboard.helpers import csv_response, latest_release, wave_or_404, week_choice
from bot.infra.models import Answer
from bot.infra.models import Response as ResponseRow
from bot.web.state import state

log = logging.getLogger("surveybot.dashboard")


@bp.get("/waves/<name>/aggregates.csv")
@require_role(Role.VIEWER)
def aggregates_csv(name: str):  # noqa: ANN201
    """The aggregate tables of the wave's latest release as CSV (suppressed counts empty and
    flagged); the header alone before the first release."""
    from bot.releases.releases import released_reports

    record = wave_or_404(name)
    week, _ = week_choice(name)
    published, _, _ = released_reports(latest_release(record.name), week)
    suffix = f"-{week}" if week else ""
    # Before the first release: the header alone (there is nothing published to download).
    rows = aggregate_rows(published or {})
    return csv_response(rows, f"{record.name}{suffix}-aggregates.csv")


@bp.get("/waves/<name>/export")
@require_role(Role.ADMIN)
def export(name: str):  # noqa: ANN201
    """The warning before the row-level export."""
    record = wave_or_404(name)
    query = select(func.count()).select_from(ResponseRow).where(ResponseRow.wave == name)
    count = db().exec(query).one()
    return render_template("dashboard/export.html", wave=record, count=count)


def _stored_responses(session: Session, wave: str) -> tuple[list[Any], list[Any]]:
    """A wave's responses (id, language, week) and their answers (response id, question id,
    option id, number, skipped), as stored."""
    responses = session.exec(
        select(ResponseRow.id, ResponseRow.language, ResponseRow.completed_week).where(
            ResponseRow.wave == wave
        )
    ).all()
    query = (
        select(
            Answer.response_id, Answer.question_id, Answer.option_id, Answer.number, Answer.skipped
        )
        .join(ResponseRow, ResponseRow.id == Answer.response_id)
        .where(ResponseRow.wave == wave)
    )
    return list(responses), list(session.exec(query))


@bp.post("/waves/<name>/export")
@require_role(Role.ADMIN)
def export_csv(name: str):  # noqa: ANN201
    """The anonymized responses of a wave, one row each, once the admin has confirmed."""
    record = wave_or_404(name)
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm you have read the warning.", "error")
        return redirect(url_for("dashboard.export", name=name))
    responses, answers = _stored_responses(db(), record.name)
    rows = export_rows(state().questionnaire, record.name, responses, answers)
    log.info(
        "row-level export of wave %s by account %s: %d rows",
        record.name,
        current_user().id,
        len(rows) - 1,
    )
    return csv_response(rows, f"{record.name}-responses-anonymized.csv")
