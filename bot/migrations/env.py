"""Alembic environment: the SQLModel metadata, the URL handed over by `bot.infra.migrate`."""

from alembic import context
from sqlmodel import SQLModel

import bot.infra.models  # noqa: F401  (registers the tables on the metadata)
from bot.infra.db import get_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Run migrations on a live connection."""
    engine = get_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
