"""Test factories: synthetic respondents and their stored responses."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from pathlib import Path
from typing import Any

from bot.core.placeholders import SHIPPED_PLACEHOLDERS
from bot.core.questionnaire import DEFAULT_SURVEY_PATH, Questionnaire, QuestionType


def random_answers(q: Questionnaire, rng: random.Random, skip_rate: float = 0.1) -> dict[str, Any]:
    """A plausible set of answers, following the questionnaire's skip logic."""
    from bot.core.engine import applies

    answers: dict[str, Any] = {}
    for question in q.questions:
        if not applies(question, answers):
            continue
        if rng.random() < skip_rate:
            answers[question.id] = None
        elif question.type is QuestionType.MULTI:
            ids = [o.id for o in question.options]
            answers[question.id] = sorted(rng.sample(ids, rng.randint(1, len(ids))))
        else:
            answers[question.id] = rng.choice(question.options).id
    return answers


def response_payload(
    q: Questionnaire,
    answers: dict[str, Any],
    *,
    language: str = "en",
    day: dt.date | None = None,
    wave: str = "default",
) -> dict[str, Any]:
    """What the webhook hands the storage job for one completed survey."""
    return {
        "response_id": str(uuid.uuid4()),
        "survey": q.id,
        "survey_version": q.version,
        "wave": wave,
        "language": language,
        "completed_on": (day or dt.date(2026, 11, 18)).isoformat(),
        "answers": answers,
    }


# What an organizer puts in place of the shipped placeholders (bot.core.placeholders).
REAL_RESOURCES = {"org": "Red Comunitaria de Miami", "hotline": "1-305-555-0147"}


def finished_survey(folder: Path) -> Path:
    """A copy of the shipped questionnaire with its organization name and hotline replaced,
    as production needs before a wave opens; its `placeholders:` mark stays as shipped."""
    source = DEFAULT_SURVEY_PATH.read_text(encoding="utf-8")
    for name, value in REAL_RESOURCES.items():
        shipped = f'  {name}: "{SHIPPED_PLACEHOLDERS[name]}"\n'
        assert shipped in source
        source = source.replace(shipped, f'  {name}: "{value}"\n', 1)  # resources come first
    path = folder / "finished_survey.yaml"
    path.write_text(source, encoding="utf-8")
    return path


def store_all(database_url: str, payloads: list[dict[str, Any]]) -> int:
    """Store many completed responses in one transaction, as a storage batch writes them
    (bot.records.responses.write_responses); for tests that need many rows fast."""
    from bot.infra.db import session_scope
    from bot.records.responses import write_responses

    with session_scope(database_url) as session:
        return len(write_responses(session, payloads))
