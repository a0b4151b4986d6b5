"""Inviting phone numbers to a wave: upload a CSV, check it and see the exact invitation, then
send. The file is uploaded again to send, so the numbers are never kept between the two steps;
a keyed digest of the checked file makes sure the one sent is the one checked."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for

from bot.dashboard.accounts import Role
from bot.dashboard.auth import current_user, require_role
from bot.dashboard.blueprint import bp
from bot.dashboard.db import db
from bot.dashboard.helpers import wave_or_404, wave_questionnaire
from bot.infra.exceptions import SurveybotError
from bot.outreach import pacing
from bot.outreach.invitations import (
    MAX_INVALID_SHOWN,
    InvitationPreview,
    SendKind,
    parse_invitation_csv,
    preview_invitations,
    wave_keyword,
)
from bot.outreach.progress import estimated_end, invitation_progress, wave_estimate
from bot.outreach.reminders import preview_reminders, queue_reminders
from bot.outreach.upload import KIND_OF_CHANNEL, by_channel, describe_queued, plan, queue_upload
from bot.outreach.waves import WaveStatus
from bot.outreach.waves import wave_questionnaire as frozen_questionnaire
from bot.web.state import state

log = logging.getLogger("surveybot.dashboard")


def _file_digest(data: bytes) -> str:
    # Keyed: a file of one phone number must not be recoverable from its digest.
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"invitations\x00" + data, hashlib.sha256).hexdigest()


def _invitation_previews(wave, languages: list[str], kind: str) -> list[InvitationPreview]:  # noqa: ANN001
    """The exact text each language of an upload will receive, read with the wave's frozen
    questionnaire and start keywords, as the send jobs' text is. An upload sends one language
    (its rows carry none of their own), so `languages` is the one chosen."""
    q = frozen_questionnaire(db(), wave.name, state().settings)
    if kind == SendKind.REMINDER:
        return preview_reminders(q, languages[0])
    return preview_invitations(q, languages, keywords=wave.start_keywords)


def _outreach(name: str) -> dict[str, Any]:
    """The wave's outreach settings and progress, exact (organizers' figures about sending, not
    respondents' answers: this page is for organizers only)."""
    app_state = state()
    settings, redis = app_state.settings, app_state.redis
    outreach = pacing.registry_outreach(settings, redis, name)
    return {
        "outreach": outreach,
        "progress": {kind: invitation_progress(redis, name, kind) for kind in SendKind},
        "estimated_end": estimated_end(settings, redis, name),
    }


NOUNS = {
    SendKind.INVITATION: "invitation",
    SendKind.REMINDER: "reminder",
    SendKind.CALL: "call",
    SendKind.WHATSAPP: "WhatsApp invitation",
}
CHANNEL_OF_KIND = {kind: channel for channel, kind in KIND_OF_CHANNEL.items()}


def _channels(record, check, language: str, kind: str) -> dict[str, int]:  # noqa: ANN001
    """How many numbers go on each channel (a row's own, else the upload's). WhatsApp is
    checked now (a template in the language): an organizer without one learns it before
    choosing the file again; every channel is checked again as the upload is queued."""
    if kind == SendKind.REMINDER:
        return {}
    groups = by_channel(check, CHANNEL_OF_KIND[kind])
    if "whatsapp" in groups:
        settings, redis = state().settings, state().redis
        plan(settings, redis, wave=record.name, language=language, channel="whatsapp")
    return {channel: len(numbers) for channel, numbers in groups.items()}


def _back(name: str, message: str):  # noqa: ANN202
    flash(message, "error")
    return redirect(url_for("dashboard.invitations", name=name))


@bp.route("/waves/<name>/invitations", methods=["GET", "POST"])
@require_role(Role.ORGANIZER)
def invitations(name: str):  # noqa: ANN201
    """Upload a CSV of phone numbers: check it and show the exact invitation, then send (the
    file is uploaded again to send, so the numbers are never kept between the two steps)."""
    record = wave_or_404(name)
    settings = state().settings
    q = wave_questionnaire(record)  # its languages; the preview reads the snapshot itself
    context = {"wave": record, "languages": q.languages, "language_names": q.language_names}
    if request.method == "GET":
        return render_template(
            "dashboard/invitations.html",
            default_region=settings.DEFAULT_PHONE_REGION,
            **_outreach(name),
            **context,
        )
    if record.status != WaveStatus.OPEN:
        return _back(name, "Invitations can only be sent for an open wave.")
    upload = request.files.get("file")
    data = upload.read() if upload else b""
    language = request.form.get("language", "")
    kind = request.form.get("kind", SendKind.INVITATION)
    if kind not in set(SendKind):
        return _back(name, "Choose invitations or reminders.")
    context["kind"] = kind
    context["noun"] = NOUNS[kind]
    region = (request.form.get("region", "") or settings.DEFAULT_PHONE_REGION).strip().upper()[:2]
    if not data or language not in q.languages:
        return _back(name, "Choose a CSV file and the language of the invitation.")
    try:
        check = parse_invitation_csv(
            data,
            default_region=region,
        )
    except SurveybotError as exc:
        return _back(name, f"The file was not checked: {exc}")
    if request.form.get("step") != "send":
        return _check_page(record, check, data, language, region, context)
    if not hmac.compare_digest(_file_digest(data), request.form.get("digest", "")):
        return _back(name, "That is not the file you checked. Check it again before sending.")
    return _send(record, check, language, kind)


def _check_page(record, check, data: bytes, language: str, region: str, context: dict[str, Any]):  # noqa: ANN001, ANN202
    """The first step: what the file holds and the invitation each number would receive."""
    try:
        previews = _invitation_previews(record, [language], context["kind"])
        channels = _channels(record, check, language, context["kind"])
        keyword = wave_keyword(state().redis, record.name, language) if channels else ""
    except SurveybotError as exc:
        return _back(record.name, f"The {context['noun']}s cannot be sent: {exc}")
    return render_template(
        "dashboard/invitations_check.html",
        check=check,
        invalid=check.invalid[:MAX_INVALID_SHOWN],
        digest=_file_digest(data),
        language=language,
        region=region,
        previews=previews,
        channels=channels,
        channel_counts=describe_queued(channels) if any(check.channels) else "",
        keyword=keyword,
        estimate=wave_estimate(
            state().settings, state().redis, record.name, len(check.valid), context["kind"]
        ).describe(),
        **context,
    )


def _send(record, check, language: str, kind: str):  # noqa: ANN001, ANN202
    """The second step: queue the checked file's invitations (or reminders), each row on its
    channel."""
    app_state = state()
    common = {"wave": record.name, "language": language}
    try:
        if kind == SendKind.REMINDER:
            count = queue_reminders(
                app_state.settings,
                app_state.redis,
                app_state.queue,
                numbers=check.valid,
                **common,
            )
            queued = f"{count} reminders"
        else:
            queued = describe_queued(
                queue_upload(
                    app_state.settings,
                    app_state.redis,
                    app_state.queue,
                    check=check,
                    channel=CHANNEL_OF_KIND[kind],
                    **common,
                )
            )
    except SurveybotError as exc:
        return _back(record.name, f"The {NOUNS[kind]}s were not sent: {exc}")
    log.info("%s queued for wave %s by account %s", queued, record.name, current_user().id)
    flash(
        f"{queued} queued. They go out in each person's sending window, under the daily "
        "caps and at the sending rate; progress shows below."
    )
    return redirect(url_for("dashboard.wave", name=record.name))
