"""Survey waves.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wave",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("survey_file", sa.String(500), nullable=False),
        sa.Column("questionnaire_yaml", sa.Text(), nullable=False),
        sa.Column("questionnaire_digest", sa.String(64), nullable=False),
        sa.Column("start_keywords", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_on", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("wave")
