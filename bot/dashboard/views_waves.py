"""The waves: the list, creating one, a wave's page of published figures, opening and closing."""

from __future__ import annotations

import dataclasses
import logging

from flask import flash, redirect, render_template, request, url_for
from redis import Redis

from bot.core.questionnaire import Questionnaire
from bot.dashboard.accounts import Role
from bot.dashboard.auth import current_user, require_role
from bot.dashboard.blueprint import bp
from bot.dashboard.db import db
from bot.dashboard.helpers import flash_error, latest_release, wave_or_404, wave_questionnaire
from bot.infra.config import Settings
from bot.outreach.progress import invitation_progress
from bot.outreach.waves import WaveError, WaveStatus, close_wave, create_wave, list_waves
from bot.outreach.waves import open_wave as open_wave_record
from bot.releases.figures import ReleaseInfo, WavePage, wave_page
from bot.web.state import state

log = logging.getLogger("surveybot.dashboard")


@bp.get("")
@bp.get("/")
@require_role(Role.VIEWER)
def waves():  # noqa: ANN201
    """Every wave, newest first, and (for organizers) the form to create one."""
    return render_template("dashboard/waves.html", waves=list_waves(db()), q=state().questionnaire)


def _keywords_from_form(q: Questionnaire) -> dict[str, list[str]] | None:
    chosen = {}
    for lang in q.languages:
        words = [w.strip() for w in request.form.get(f"keywords_{lang}", "").split(",")]
        if any(words):
            chosen[lang] = [w for w in words if w]
    return chosen or None


@bp.post("/waves")
@require_role(Role.ORGANIZER)
def create():  # noqa: ANN201
    """Create a draft wave."""
    q = state().questionnaire
    name = request.form.get("name", "").strip()
    try:
        create_wave(
            db(),
            name=name,
            title=request.form.get("title", "").strip(),
            start_keywords=_keywords_from_form(q),
            default=bool(request.form.get("default")),
        )
    except WaveError as exc:
        flash_error(exc)
        return redirect(url_for("dashboard.waves"))
    log.info("wave %s created from the dashboard by account %s", name, current_user().id)
    flash(f"Wave {name} created as a draft. Open it when you are ready.")
    return redirect(url_for("dashboard.wave", name=name))


def wave_figures(
    settings: Settings, redis: Redis, q: Questionnaire, wave: str, asked_q: Questionnaire
) -> WavePage:
    """The page's figures: the wave's latest release, and the live invitation counters."""
    release = latest_release(wave)
    info = None
    if release is not None:
        responses = (release.content.get("wave") or {}).get("completed")
        info = ReleaseInfo(release.number, release.made_on, responses)
    return wave_page(
        release.content if release else None,
        info,
        q,
        asked_q,
        dataclasses.asdict(invitation_progress(redis, wave)),
        settings.SMALL_CELL_MIN,
    )


@bp.get("/waves/<name>")
@require_role(Role.VIEWER)
def wave(name: str):  # noqa: ANN201
    """A wave: status, progress, drop-off, languages and the published aggregates."""
    record = wave_or_404(name)
    app_state = state()
    figures = wave_figures(
        app_state.settings,
        app_state.redis,
        app_state.questionnaire,
        record.name,
        wave_questionnaire(record),
    )
    return render_template(
        "dashboard/wave.html",
        wave=record,
        f=figures,
        WaveStatus=WaveStatus,
        release_min_new=app_state.settings.RELEASE_MIN_NEW,
    )


@bp.post("/waves/<name>/open")
@require_role(Role.ORGANIZER)
def open_wave(name: str):  # noqa: ANN201
    """Open a draft wave."""
    wave_or_404(name)
    try:
        open_wave_record(
            db(),
            state().redis,
            name,
            allow_placeholders=state().settings.allows_placeholders,
        )
    except WaveError as exc:
        flash_error(exc)
    else:
        log.info("wave %s opened from the dashboard by account %s", name, current_user().id)
        flash(f"Wave {name} is open.")
    return redirect(url_for("dashboard.wave", name=name))


@bp.post("/waves/<name>/close")
@require_role(Role.ORGANIZER)
def close(name: str):  # noqa: ANN201
    """Close an open wave (final: it cannot be opened again)."""
    wave_or_404(name)
    if not request.form.get("confirm"):
        flash("Tick the box to confirm: a closed wave cannot be opened again.", "error")
        return redirect(url_for("dashboard.wave", name=name))
    try:
        close_wave(db(), state().redis, name)
    except WaveError as exc:
        flash_error(exc)
    else:
        log.info("wave %s closed from the dashboard by account %s", name, current_user().id)
        flash(f"Wave {name} is closed.")
    return redirect(url_for("dashboard.wave", name=name))
