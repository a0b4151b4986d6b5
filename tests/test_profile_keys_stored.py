"""The cell keys a release is perturbed with come from the stored record keys: the aggregate
profiles the database computes carry, for every count, the key of exactly its records."""

from __future__ import annotations

import random
import uuid

from redis import Redis
from sqlalchemy import text
from sqlmodel import Session

from bot.core.questionnaire import QuestionType, load_questionnaire
from bot.infra.db import get_engine
from bot.releases.aggregates import load_profiles, refresh_wave
from bot.releases.cellkey import RECORD_KEY_SPACE, key_report
from tests.factories import random_answers, response_payload, store_all


def test_profile_keys_are_the_sums_of_their_records_keys(db, redis: Redis):
    q = load_questionnaire()
    rng = random.Random(11)
    payloads = [
        response_payload(q, random_answers(q, rng), language=rng.choice(q.languages))
        for _ in range(120)
    ]
    store_all(db, payloads)
    refresh_wave(redis, db, q, "default")
    with Session(get_engine(db)) as session:
        profiles = load_profiles(session, "default")
        rows = session.connection().execute(text("SELECT id, language, record_key FROM response"))
        key_of = {str(uuid.UUID(str(row.id))): (row.language, row.record_key) for row in rows}
    assert len(key_of) == 120 and len({k for _, k in key_of.values()}) > 50  # random keys

    keys = key_report(q, profiles)
    by_id = {p["response_id"]: p for p in payloads}
    for language in q.languages:
        expected = sum(k for lang, k in key_of.values() if lang == language) % RECORD_KEY_SPACE
        assert keys["by_language"][language] == expected
    for question in q.questions:
        if question.type not in (QuestionType.CHOICE, QuestionType.MULTI):
            continue
        for option in question.options:
            records = [
                key_of[rid][1]
                for rid, payload in by_id.items()
                if option.id
                in (
                    payload["answers"].get(question.id) or []
                    if question.type is QuestionType.MULTI
                    else [payload["answers"].get(question.id)]
                )
            ]
            got = keys["questions"][question.id]["counts"][option.id]
            assert got == sum(records) % RECORD_KEY_SPACE, (question.id, option.id)
