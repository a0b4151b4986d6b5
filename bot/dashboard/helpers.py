"""Small pieces the dashboard's views share: the wave of a URL, its questionnaire, the week
asked for, an error flashed after a rollback, a CSV download."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from flask import Response, abort, flash, request

from bot.core.questionnaire import Questionnaire, parse_questionnaire
from bot.dashboard.csvfiles import csv_text
from bot.dashboard.db import db
from bot.infra.exceptions import SurveybotError
from bot.outreach.waves import WaveError, get_wave
from bot.web.state import state


def wave_or_404(name: str):  # noqa: ANN201
    """The wave of this name, or a 404 page."""
    try:
        return get_wave(db(), name)
    except WaveError:
        abort(404, description=f"There is no wave named {name!r}.")


@lru_cache(maxsize=16)
def _parsed(source: str) -> Questionnaire:
    return parse_questionnaire(source)


def wave_questionnaire(wave) -> Questionnaire:  # noqa: ANN001
    """The questionnaire the wave asks (its snapshot once open), for drop-off labels."""
    if wave.questionnaire_yaml:
        try:
            return _parsed(wave.questionnaire_yaml)
        except SurveybotError:
            pass
    return state().questionnaire


def flash_error(error: Exception | str) -> None:
    """Undo this request's database changes and tell the user why, as an error."""
    db().rollback()
    flash(str(error), "error")


def latest_release(name: str):  # noqa: ANN201
    """The wave's latest release (every figure a page shows comes from it), or None."""
    from bot.releases.releases import latest_release as latest

    return latest(db(), name)


def week_choice(name: str) -> tuple[str | None, list[str]]:
    """The week asked for (None: the whole wave; 404 if the latest release has no report of
    it) and every week it has."""
    from bot.releases.releases import released_weeks

    weeks = released_weeks(latest_release(name))
    week = request.args.get("week") or None
    if week is not None and week not in weeks:
        abort(404, description="No release has figures for that week yet.")
    return week, weeks


def csv_response(rows: Iterable[Iterable[Any]], filename: str) -> Response:
    """Rows as a CSV download."""
    response = Response(csv_text(rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
