"""A wave's outreach settings: its sending window, daily cap and reminders (organizers change
them with `surveybot wave outreach`; open waves' send jobs read them from the registry)."""

from __future__ import annotations

from redis import Redis
from sqlmodel import Session

from bot.infra.models import Wave
from bot.outreach.waves import WaveError, get_wave, sync_registry
from bot.outreach.windows import WindowError, parse_window


def set_outreach(
    session: Session,
    redis: Redis,
    name: str,
    *,
    window: str | None = None,
    daily_cap: int | None = None,
    remind_after_days: int | None = None,
    max_reminders: int | None = None,
) -> Wave:
    """Change a wave's sending window ("" for SEND_WINDOW), daily cap (0 for none) or
    reminders; an open wave's send jobs read the change from the registry at once."""
    wave = get_wave(session, name)
    if window is not None:
        try:
            wave.send_window = str(parse_window(window)) if window.strip() else ""
        except WindowError as exc:
            raise WaveError(str(exc)) from exc
    if daily_cap is not None:
        if daily_cap < 0:
            raise WaveError("a daily cap is a number of texts (0 for none)")
        wave.daily_cap = daily_cap or None
    if remind_after_days is not None:
        if remind_after_days < 1:
            raise WaveError("reminders wait at least one day")
        wave.remind_after_days = remind_after_days
    if max_reminders is not None:
        if max_reminders < 0:
            raise WaveError("the number of reminders is 0 or more")
        wave.max_reminders = max_reminders
    session.add(wave)
    session.commit()
    session.refresh(wave)
    sync_registry(session, redis)
    return wave
