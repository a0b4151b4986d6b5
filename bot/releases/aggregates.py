"""Aggregation: keep each wave's aggregate profiles equal to what its raw answers say.

A profile row counts the respondents of one wave, ISO week and language who gave one
combination of choice answers, with the option counts of multi questions among them. Every
figure of the report (counts per option, crosstabs, languages) is a sum over profiles, so the
report reads a few hundred rows instead of millions of answers.

The refresh job recomputes a wave's profiles from the raw rows in one SQL pass (a GROUP BY over
the wave's response rows, which carry flat keys of their answers: bot/releases/profile_keys.py) and
replaces them in one transaction, under a Redis lock:
running it twice, concurrently or out of order always leaves the result of the latest data.
Storage jobs ask for a refresh through `request_refresh`, which debounces a burst of
completions into one job (workers/aggregation.py, which calls `refresh_aggregates`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from redis import Redis
from rq import Queue, Retry
from sqlalchemy import delete, text
from sqlalchemy import select as sa_select
from sqlmodel import Session

from bot.core.questionnaire import Questionnaire, QuestionType
from bot.infra.config import Settings
from bot.infra.db import get_engine
from bot.infra.models import AggregateProfile
from bot.infra.queues import REFRESH_AGGREGATES_JOB
from bot.outreach.waves import wave_questionnaire
from bot.releases.cellkey import RECORD_KEY_SPACE
from bot.releases.profile_keys import ANSWERED, multi_pattern, parse_choices

log = logging.getLogger(__name__)

REFRESH_DELAY_SECONDS = 5  # completions within this window share one refresh
REFRESH_LOCK_TIMEOUT_SECONDS = 600


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
    # Cell keys (bot/releases/cellkey.py): the sum of the respondents' record keys, mod 256,
    # and the same per several-choice option.
    key_sum: int = 0
    multi_keys: dict[str, dict[str, int]] = field(default_factory=dict)


def _multi_columns(q: Questionnaire) -> list[tuple[str, str, str]]:
    """(question id, option id or ANSWERED, column name) of each several-choice count."""
    return [
        (question.id, option_id, f"m{i}_{j}")
        for i, question in enumerate(q.questions)
        if question.type is QuestionType.MULTI
        for j, option_id in enumerate([ANSWERED, *(o.id for o in question.options)])
    ]


def _profile_sql(
    q: Questionnaire, columns: list[tuple[str, str, str]] | None = None
) -> tuple[str, dict[str, Any]]:
    """One scan of a wave's responses, grouped by week, language and one-choice answers, with
    a count per several-choice option (see bot/releases/profile_keys.py)."""
    if columns is None:
        columns = _multi_columns(q)
    params = {column: multi_pattern(qid, oid) for qid, oid, column in columns}
    sql = (
        "SELECT completed_week, language, choices_key, count(*) AS n, sum(record_key) AS k"
        + "".join(
            f", sum(CASE WHEN multi_key LIKE :{c} THEN 1 ELSE 0 END) AS {c}"
            f", sum(CASE WHEN multi_key LIKE :{c} THEN record_key ELSE 0 END) AS k{c}"
            for _, _, c in columns
        )
        + " FROM response WHERE wave = :wave"
        + " GROUP BY completed_week, language, choices_key"
    )
    return sql, params


def compute_profiles(session: Session, q: Questionnaire, wave: str) -> list[Profile]:
    """A wave's profiles, computed from its raw rows by the database."""
    columns = _multi_columns(q)
    sql, params = _profile_sql(q, columns)
    rows = session.connection().execute(text(sql), {**params, "wave": wave}).mappings()
    choice_ids = [x.id for x in q.questions if x.type is QuestionType.CHOICE]
    profiles = []
    for row in rows:
        answered = parse_choices(row["choices_key"])
        choices = {qid: answered.get(qid) for qid in choice_ids}
        multi: dict[str, dict[str, int]] = {}
        multi_keys: dict[str, dict[str, int]] = {}
        for qid, oid, column in columns:
            multi.setdefault(qid, {})[oid] = int(row[column] or 0)
            multi_keys.setdefault(qid, {})[oid] = int(row[f"k{column}"] or 0) % RECORD_KEY_SPACE
        key_sum = int(row["k"] or 0) % RECORD_KEY_SPACE
        profiles.append(
            Profile(
                row["completed_week"],
                row["language"],
                choices,
                int(row["n"]),
                multi,
                key_sum,
                multi_keys,
            )
        )
    return profiles


def replace_profiles(session: Session, wave: str, profiles: list[Profile]) -> None:
    """Swap a wave's stored profiles for these (within the caller's transaction)."""
    table = AggregateProfile.__table__
    session.exec(delete(AggregateProfile).where(AggregateProfile.wave == wave))
    if profiles:
        # A core executemany: thousands of rows, no ORM bookkeeping needed.
        session.connection().execute(
            table.insert(),
            [
                {
                    "wave": wave,
                    "week": p.week,
                    "language": p.language,
                    "choices": p.choices,
                    "respondents": p.respondents,
                    "multi": p.multi,
                    "key_sum": p.key_sum,
                    "multi_keys": p.multi_keys,
                }
                for p in profiles
            ],
        )


def load_profiles(session: Session, wave: str, weeks: set[str] | None = None) -> list[Profile]:
    """A wave's stored profiles (optionally of some weeks only)."""
    table = AggregateProfile.__table__
    query = sa_select(
        table.c.week,
        table.c.language,
        table.c.choices,
        table.c.respondents,
        table.c.multi,
        table.c.key_sum,
        table.c.multi_keys,
    ).where(table.c.wave == wave)
    if weeks is not None:
        query = query.where(table.c.week.in_(sorted(weeks)))
    return [
        Profile(week, language, dict(choices), respondents, dict(multi), key_sum, dict(keys))
        for week, language, choices, respondents, multi, key_sum, keys in session.connection()
        .execute(query)
        .all()
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


def refresh_aggregates(settings: Settings, redis: Redis, wave: str) -> int:
    """Bring one wave's aggregates up to date with its stored responses (the refresh job)."""
    with Session(get_engine(settings.DATABASE_URL)) as session:
        q = wave_questionnaire(session, wave, settings)  # the one the wave's answers follow
    count = refresh_wave(redis, settings.DATABASE_URL, q, wave)
    log.info("aggregates of wave %s refreshed: %d profiles", wave, count)
    return count


def request_refresh(redis: Redis, queue: Queue, wave: str) -> bool:
    """Ask for a refresh of a wave soon; True if this call queued it (else one is pending)."""
    if not redis.set(pending_key(wave), "1", nx=True, ex=REFRESH_LOCK_TIMEOUT_SECONDS):
        return False
    queue.enqueue_in(
        timedelta(seconds=REFRESH_DELAY_SECONDS),
        REFRESH_AGGREGATES_JOB,
        wave,
        retry=Retry(max=5, interval=[10, 30, 60, 300, 900]),
        result_ttl=0,
        description=f"refresh aggregates of wave {wave}",
    )
    return True
