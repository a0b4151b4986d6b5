"""Test factories: synthetic respondents and their stored responses."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from bot.questionnaire import Questionnaire, QuestionType


def random_answers(q: Questionnaire, rng: random.Random, skip_rate: float = 0.1) -> dict[str, Any]:
    """A plausible set of answers, following the questionnaire's skip logic."""
    from bot.engine import applies

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
