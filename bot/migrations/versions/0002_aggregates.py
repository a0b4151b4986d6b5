"""Aggregates the report reads, and the ISO week of each response.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _iso_week(day) -> str:
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def upgrade() -> None:
    with op.batch_alter_table("response") as batch:
        batch.add_column(sa.Column("completed_week", sa.String(8), nullable=True))
    # Fill the week of responses stored before this revision.
    connection = op.get_bind()
    response = sa.table(
        "response",
        sa.column("id", sa.Uuid()),
        sa.column("completed_on", sa.Date()),
        sa.column("completed_week", sa.String(8)),
    )
    days = connection.execute(sa.select(response.c.completed_on).distinct()).scalars().all()
    for day in days:
        connection.execute(
            response.update()
            .where(response.c.completed_on == day)
            .values(completed_week=_iso_week(day))
        )
    with op.batch_alter_table("response") as batch:
        batch.alter_column("completed_week", existing_type=sa.String(8), nullable=False)
    op.create_index("ix_response_completed_week", "response", ["completed_week"])
    op.create_table(
        "aggregate_profile",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("wave", sa.String(64), nullable=False),
        sa.Column("week", sa.String(8), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("respondents", sa.Integer(), nullable=False),
        sa.Column("multi", sa.JSON(), nullable=False),
    )
    op.create_index("ix_aggregate_profile_wave", "aggregate_profile", ["wave"])


def downgrade() -> None:
    op.drop_index("ix_aggregate_profile_wave", "aggregate_profile")
    op.drop_table("aggregate_profile")
    op.drop_index("ix_response_completed_week", "response")
    with op.batch_alter_table("response") as batch:
        batch.drop_column("completed_week")
