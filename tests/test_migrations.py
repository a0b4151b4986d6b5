"""The schema comes from migrations, and the migrations match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from bot.db import get_engine
from bot.migrate import downgrade, upgrade


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
