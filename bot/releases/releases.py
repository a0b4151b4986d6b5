"""Releases: the published snapshots of a wave's figures, the only thing any view shows.

A live figure gives people away: a viewer who reloads the dashboard after each completion
learns each response by difference, and a counter that moves while someone texts tells what
they answered. So the dashboard, the aggregate CSV, `surveybot report build/preview` and the
weekly email read releases only, and a release is made (daily at RELEASE_HOUR in
REPORT_TIMEZONE, or by `surveybot release make`) only when at least RELEASE_MIN_NEW responses
were stored since the wave's previous one. Between two releases every figure stands still.

A release holds published figures only, each report protected by the one seam,
`bot.releases.protection.protect`: the wave so far, each week with responses, and the funnel
(started per language, reached per question, the conditional question's reach, declined and
opted out). Rows are never updated or deleted: a viewer may have saved any of them.

`build_content` is pure; `make_release` reads the database and the counters, decides and
inserts; `latest_release` is what views read.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from redis import Redis
from redis.exceptions import LockError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.core.questionnaire import Questionnaire
from bot.infra import clock, keys
from bot.infra.config import Settings
from bot.infra.db import get_engine
from bot.infra.models import Release
from bot.infra.weeks import parse_week
from bot.releases.aggregates import Profile, compute_profiles
from bot.releases.cellkey import RECORD_KEY_SPACE, key_report
from bot.releases.funnel import raw_funnel
from bot.releases.protection import protect
from bot.releases.report import build_raw_report

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 10 * 60


class Outcome(StrEnum):
    """What an attempt to make a wave's release did (never a count: counts are figures)."""

    MADE = "made"
    TOO_FEW = "too few new responses"
    BUSY = "another release of this wave is being made"


def _period(weeks: list[str], today: dt.date) -> tuple[dt.date, dt.date]:
    if not weeks:
        return today, today
    return parse_week(weeks[0])[0], parse_week(weeks[-1])[1]


def build_content(
    q: Questionnaire,
    profiles: list[Profile],
    *,
    wave: str,
    stats: Mapping[bytes, bytes],
    asked: Mapping[bytes, bytes],
    minimum: int,
    today: dt.date,
    keys_of: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A release's published content from a wave's profiles and live counters (pure).

    {"wave": the wave-so-far report, "weeks": {ISO week: its report} for each week with
    responses, "funnel": the protected funnel}; every report goes through `protect`.
    `keys_of` maps "wave" and each week to that report's cell keys (cell-key method only).
    """
    keys_of = keys_of or cell_keys(q, profiles, stats)
    weeks = sorted({p.week for p in profiles})
    started = int(stats.get(b"started", 0) or 0)
    raw = build_raw_report(
        q, profiles, wave=wave, period=_period(weeks, today), started=started, minimum=minimum
    )
    raw["funnel"] = raw_funnel(q, stats, asked)
    published = protect(raw, keys_of.get("wave"))
    funnel = published.pop("funnel")
    by_week = {}
    for week in weeks:
        week_raw = build_raw_report(
            q,
            [p for p in profiles if p.week == week],
            wave=wave,
            period=parse_week(week),
            started=int(stats.get(f"started:{week}".encode(), 0) or 0),
            minimum=minimum,
        )
        by_week[week] = protect(week_raw, keys_of.get(week))
    return {"wave": published, "weeks": by_week, "funnel": funnel}


def cell_keys(
    q: Questionnaire, profiles: list[Profile], stats: Mapping[bytes, bytes]
) -> dict[str, Any]:
    """The cell keys of the wave-so-far report and of each week's (bot/releases/cellkey.py),
    from the profiles' key sums and the started counters' key sums."""

    def started_key(name: str) -> int:
        return int(stats.get(f"{name}#key".encode(), 0) or 0) % RECORD_KEY_SPACE

    out = {"wave": key_report(q, profiles, started_key=started_key("started"))}
    for week in sorted({p.week for p in profiles}):
        week_profiles = [p for p in profiles if p.week == week]
        out[week] = key_report(q, week_profiles, started_key=started_key(f"started:{week}"))
    return out


def local_today(settings: Settings) -> dt.date:
    """Today in REPORT_TIMEZONE (a release is dated, never timed)."""
    return clock.now().astimezone(ZoneInfo(settings.REPORT_TIMEZONE)).date()


def latest_release(
    session: Session, wave: str, *, made_by: dt.date | None = None
) -> Release | None:
    """The wave's newest release (made on or before `made_by`, if given), or None."""
    query = select(Release).where(Release.wave == wave)
    if made_by is not None:
        query = query.where(Release.made_on <= made_by)
    return session.exec(query.order_by(col(Release.number).desc()).limit(1)).first()


def load_latest(settings: Settings, wave: str, *, made_by: dt.date | None = None) -> Release | None:
    """`latest_release` in a session of its own (detached, read only)."""
    with Session(get_engine(settings.DATABASE_URL), expire_on_commit=False) as session:
        return latest_release(session, wave, made_by=made_by)


def make_release(
    settings: Settings,
    redis: Redis,
    wave: str,
    *,
    q: Questionnaire | None = None,
    min_new: int | None = None,
) -> tuple[Outcome, Release | None]:
    """Make the wave's next release if at least `min_new` (default RELEASE_MIN_NEW) responses
    were stored since its previous one; (outcome, the release made or the latest one).

    Idempotent: a second run finds no new responses and makes nothing; a Redis lock keeps two
    makers apart and the (wave, number) key refuses a second row of the same number."""
    from bot.outreach.waves import wave_questionnaire

    min_new = settings.RELEASE_MIN_NEW if min_new is None else min_new
    lock = redis.lock(f"sb:release:lock:{wave}", timeout=LOCK_TIMEOUT_SECONDS)
    if not lock.acquire(blocking=False):
        return Outcome.BUSY, None
    try:
        with Session(get_engine(settings.DATABASE_URL), expire_on_commit=False) as session:
            q = q or wave_questionnaire(session, wave, settings)
            profiles = compute_profiles(session, q, wave)  # the stored rows, not a cache
            responses = sum(p.respondents for p in profiles)
            last = latest_release(session, wave)
            if responses - (last.responses if last else 0) < max(1, min_new):
                return Outcome.TOO_FEW, last
            today = local_today(settings)
            content = build_content(
                q,
                profiles,
                wave=wave,
                stats=redis.hgetall(keys.wave_stats(wave)),
                asked=redis.hgetall(keys.asked_stats(wave)),
                minimum=settings.SMALL_CELL_MIN,
                today=today,
            )
            release = Release(
                wave=wave,
                number=(last.number + 1) if last else 1,
                made_on=today,
                responses=responses,
                content=content,
            )
            session.add(release)
            try:
                session.commit()
            except IntegrityError:
                return Outcome.BUSY, None  # made by another process a moment ago
            log.info("release %d of wave %s made", release.number, wave)
            return Outcome.MADE, release
    finally:
        try:
            lock.release()
        except LockError:
            pass  # it expired: the (wave, number) key still refuses a second row


def release_waves(settings: Settings) -> list[str]:
    """The waves releases are made for: every wave ever opened (closed ones too, until their
    last responses are released), or DEFAULT_WAVE while no wave was ever created."""
    from bot.outreach.waves import WaveStatus, list_waves

    with Session(get_engine(settings.DATABASE_URL)) as session:
        waves = list_waves(session)
    if not waves:
        return [settings.DEFAULT_WAVE]
    return sorted(w.name for w in waves if w.status != WaveStatus.DRAFT)


def make_releases(settings: Settings, redis: Redis) -> dict[str, str]:
    """Make the next release of every wave that has enough new responses; {wave: outcome}."""
    outcomes = {}
    for wave in release_waves(settings):
        outcome, release = make_release(settings, redis, wave)
        made = f" (release {release.number})" if outcome is Outcome.MADE and release else ""
        outcomes[wave] = outcome.value + made
    return outcomes


def make_due_releases(
    settings: Settings, redis: Redis, moment: dt.datetime | None
) -> str | dict[str, str]:
    """If `moment` (when a cron firing was enqueued; None: now) is RELEASE_HOUR in
    REPORT_TIMEZONE, make the releases that are due (see `make_releases`)."""
    from bot.releases.schedule import is_due

    moment = moment or clock.now()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    if not is_due(release_cron(settings), settings.REPORT_TIMEZONE, moment):
        return "not due"
    return make_releases(settings, redis)


def release_cron(settings: Settings) -> str:
    """The releases' schedule as a local cron expression: daily at RELEASE_HOUR."""
    return f"0 {int(settings.RELEASE_HOUR)} * * *"


def released_weeks(release: Release | None) -> list[str]:
    """The weeks a release has a report of, newest first."""
    return sorted((release.content.get("weeks") or {}) if release else (), reverse=True)


def released_reports(
    release: Release | None, week: str | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    """(the report of `week` or, for None, of the wave so far; the week before's; the wave so
    far) as a release published them; None where it has none."""
    from bot.infra.weeks import previous_week

    if release is None:
        return None, None, None
    so_far = release.content.get("wave")
    if week is None:
        return so_far, None, so_far
    weeks = release.content.get("weeks") or {}
    return weeks.get(week), weeks.get(previous_week(week)), so_far


def unreleased(wave: str, period: tuple[dt.date, dt.date], minimum: int) -> dict[str, Any]:
    """What the email reads for a period no release covers yet (see `email_content`)."""
    return {
        "not_released": True,
        "wave": wave,
        "period": {"start": period[0].isoformat(), "end": period[1].isoformat()},
        "suppression_min": minimum,
    }
