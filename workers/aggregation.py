"""Aggregation: keep each wave's aggregate profiles equal to what its raw answers say.

A profile row counts the respondents of one wave, ISO week and language who gave one
combination of choice answers, with the option counts of multi questions among them. Every
figure of the report (counts per option, crosstabs, languages) is a sum over profiles, so the
report reads a few hundred rows instead of millions of answers.

The refresh job recomputes a wave's profiles from the raw rows in one SQL pass (one GROUP BY
per response, then one per profile) and replaces them in one transaction, under a Redis lock:
running it twice, concurrently or out of order always leaves the result of the latest data.
Storage jobs ask for a refresh through `request_refresh`, which debounces a burst of
completions into one job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from rq import Queue
from sqlalchemy import delete, text
from sqlmodel import Session, select

from bot.db import get_engine
from bot.models import AggregateProfile
from bot.questionnaire import Questionnaire, QuestionType, load_questionnaire
from workers import context

log = logging.getLogger(__name__)

REFRESH_DELAY_SECONDS = 5  # completions within this window share one refresh
REFRESH_LOCK_TIMEOUT_SECONDS = 600
ANSWERED = "_answered"  # key of a multi question's respondent count in `multi`


def pending_key(wave: str) -> str:
    """Set while a refresh of this wave is queued (the debounce flag)."""
    return f"sb:agg:pending:{wave}"


def lock_key(wave: str) -> str:
    """Held while a refresh of this wave reads and replaces its profiles."""
    return f"sb:agg:lock:{wave}"


@dataclass(frozen=True)
class Profile:
    """Respondents of one week and language who gave one combination of choice answers."""

    week: str
    language: str
    choices: dict[str, str | None]
    respondents: int
    multi: dict[str, dict[str, int]] = field(default_factory=dict)


def _profile_sql(q: Questionnaire) -> tuple[str, dict[str, Any]]:
    """One query that turns a wave's answers into profile counts (columns c0.. and m0_..)."""
    params: dict[str, Any] = {}
    inner: list[str] = []
    outer: list[str] = []
    choice_cols: list[str] = []
    for i, question in enumerate(q.questions):
        params[f"q{i}"] = question.id
        if question.type is QuestionType.CHOICE:
            col = f"c{i}"
            inner.append(
                f"max(CASE WHEN a.question_id = :q{i} AND NOT a.skipped "
                f"THEN a.option_id END) AS {col}"
            )
            choice_cols.append(col)
        elif question.type is QuestionType.MULTI:
            inner.append(
                f"max(CASE WHEN a.question_id = :q{i} AND NOT a.skipped "
                f"THEN 1 ELSE 0 END) AS m{i}_a"
            )
            outer.append(f"sum(m{i}_a) AS m{i}_a")
            for j, option in enumerate(question.options):
                params[f"q{i}o{j}"] = option.id
                inner.append(
                    f"max(CASE WHEN a.question_id = :q{i} AND a.option_id = :q{i}o{j} "
                    f"THEN 1 ELSE 0 END) AS m{i}_{j}"
                )
                outer.append(f"sum(m{i}_{j}) AS m{i}_{j}")
    group = ", ".join(["completed_week", "language", *choice_cols])
    sql = (
        f"SELECT {group}, count(*) AS n"
        + "".join(f", {o}" for o in outer)
        + " FROM (SELECT r.completed_week, r.language"
        + "".join(f", {c}" for c in inner)
        + " FROM response r LEFT JOIN answer a ON a.response_id = r.id"
        + " WHERE r.wave = :wave GROUP BY r.id, r.completed_week, r.language) per_response"
        + f" GROUP BY {group}"
    )
    return sql, params


def compute_profiles(session: Session, q: Questionnaire, wave: str) -> list[Profile]:
    """A wave's profiles, computed from its raw answers by the database."""
    sql, params = _profile_sql(q)
    rows = session.connection().execute(text(sql), {**params, "wave": wave}).mappings()
    profiles = []
    for row in rows:
        choices: dict[str, str | None] = {}
        multi: dict[str, dict[str, int]] = {}
        for i, question in enumerate(q.questions):
            if question.type is QuestionType.CHOICE:
                choices[question.id] = row[f"c{i}"]
            elif question.type is QuestionType.MULTI:
                counts = {ANSWERED: int(row[f"m{i}_a"] or 0)}
                for j, option in enumerate(question.options):
                    counts[option.id] = int(row[f"m{i}_{j}"] or 0)
                multi[question.id] = counts
        profiles.append(
            Profile(row["completed_week"], row["language"], choices, int(row["n"]), multi)
        )
    return profiles


def replace_profiles(session: Session, wave: str, profiles: list[Profile]) -> None:
    """Swap a wave's stored profiles for these (within the caller's transaction)."""
    session.exec(delete(AggregateProfile).where(AggregateProfile.wave == wave))
    session.add_all(
        AggregateProfile(
            wave=wave,
            week=p.week,
            language=p.language,
            choices=p.choices,
            respondents=p.respondents,
            multi=p.multi,
        )
        for p in profiles
    )


def load_profiles(session: Session, wave: str, weeks: set[str] | None = None) -> list[Profile]:
    """A wave's stored profiles (optionally of some weeks only)."""
    query = select(AggregateProfile).where(AggregateProfile.wave == wave)
    if weeks is not None:
        query = query.where(AggregateProfile.week.in_(sorted(weeks)))
    return [
        Profile(row.week, row.language, dict(row.choices), row.respondents, dict(row.multi))
        for row in session.exec(query)
    ]


def refresh_wave(redis: Redis, database_url: str, q: Questionnaire, wave: str) -> int:
    """Recompute and replace a wave's profiles; returns how many profile rows it has."""
    # Clear the debounce flag first: a completion stored while we compute asks again.
    redis.delete(pending_key(wave))
    with redis.lock(lock_key(wave), timeout=REFRESH_LOCK_TIMEOUT_SECONDS):
        with Session(get_engine(database_url)) as session:
            profiles = compute_profiles(session, q, wave)
            replace_profiles(session, wave, profiles)
            session.commit()
    return len(profiles)


def refresh_aggregates(wave: str) -> int:
    """RQ job: bring one wave's aggregates up to date with its stored responses."""
    from rq import get_current_job

    settings = context.settings()
    job = get_current_job()
    redis = job.connection if job is not None else Redis.from_url(settings.REDIS_URL)
    q = load_questionnaire(settings.SURVEY_FILE or None)
    count = refresh_wave(redis, settings.DATABASE_URL, q, wave)
    log.info("aggregates of wave %s refreshed: %d profiles", wave, count)
    return count


def request_refresh(redis: Redis, queue: Queue, wave: str) -> bool:
    """Ask for a refresh of a wave soon; True if this call queued it (else one is pending)."""
    from datetime import timedelta

    from rq import Retry

    if not redis.set(pending_key(wave), "1", nx=True, ex=REFRESH_LOCK_TIMEOUT_SECONDS):
        return False
    queue.enqueue_in(
        timedelta(seconds=REFRESH_DELAY_SECONDS),
        refresh_aggregates,
        wave,
        retry=Retry(max=5, interval=[10, 30, 60, 300, 900]),
        result_ttl=0,
        description=f"refresh aggregates of wave {wave}",
    )
    return True
