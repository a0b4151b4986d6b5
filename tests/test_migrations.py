"""The schema comes from migrations, and the migrations match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from bot.infra.db import get_engine
from bot.infra.migrate import downgrade, upgrade


def test_migrated_schema_matches_the_models(db):
    with get_engine(db).connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, SQLModel.metadata) == []


def test_downgrade_to_nothing_and_back(db):
    engine = get_engine(db)
    downgrade(db, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(db)
    assert {"response", "answer", "opt_out"} <= set(inspect(engine).get_table_names())


def test_upgrade_to_0004_fills_the_answer_keys_of_existing_responses(db):
    import uuid

    from sqlalchemy import text

    engine = get_engine(db)
    downgrade(db, "0003")
    rid = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO response (id, survey, survey_version, wave, language, completed_on,"
                " completed_week) VALUES (:id, 'community_safety', '1', 'default', 'es',"
                " '2026-11-18', '2026-W47')"
            ),
            {"id": rid.hex if engine.dialect.name == "sqlite" else rid},
        )
        for question, option, skipped in (
            ("status", "lpr", False),
            ("years_in_us", None, True),
            ("fear_reasons", "language", False),
            ("fear_reasons", "ice_collaboration", False),
        ):
            connection.execute(
                text(
                    "INSERT INTO answer (response_id, question_id, option_id, skipped)"
                    " VALUES (:rid, :q, :o, :s)"
                ),
                {
                    "rid": rid.hex if engine.dialect.name == "sqlite" else rid,
                    "q": question,
                    "o": option,
                    "s": skipped,
                },
            )
    upgrade(db)
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT choices_key, multi_key FROM response")).one()
    assert tuple(keys) == (
        "|status=lpr|",
        "|fear_reasons=_answered|fear_reasons=ice_collaboration|fear_reasons=language|",
    )


def test_upgrade_to_0007_gives_answers_random_ids_and_responses_a_record_key(db):
    import uuid

    from sqlalchemy import text

    engine = get_engine(db)
    downgrade(db, "0006")
    sqlite = engine.dialect.name == "sqlite"
    ids = [uuid.uuid4() for _ in range(40)]
    with engine.begin() as connection:
        for rid in ids:
            value = rid.hex if sqlite else rid
            connection.execute(
                text(
                    "INSERT INTO response (id, survey, survey_version, wave, language,"
                    " completed_on, completed_week) VALUES (:id, 'community_safety', '1',"
                    " 'default', 'es', '2026-11-18', '2026-W47')"
                ),
                {"id": value},
            )
            connection.execute(
                text(
                    "INSERT INTO answer (response_id, question_id, option_id, skipped)"
                    " VALUES (:rid, 'status', 'lpr', false)"
                ),
                {"rid": value},
            )
    upgrade(db)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, response_id FROM answer")).all()
        keys = connection.execute(text("SELECT record_key FROM response")).scalars().all()
        order = "rowid" if sqlite else "ctid"
        stored = connection.execute(text(f"SELECT id FROM response ORDER BY {order}")).all()
    assert len(rows) == 40 and len({uuid.UUID(str(a)) for a, _ in rows}) == 40
    assert all(0 <= k <= 255 for k in keys) and len(set(keys)) > 1
    assert [uuid.UUID(str(r)) for (r,) in stored] != ids  # rewritten in a random order
    downgrade(db, "0006")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM answer")).scalar() == 40
    upgrade(db)
