"""Anonymized responses, their answers, and opt-outs by pseudonym.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "response",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("survey", sa.String(64), nullable=False),
        sa.Column("survey_version", sa.String(32), nullable=False),
        sa.Column("wave", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
    )
    op.create_index("ix_response_survey", "response", ["survey"])
    op.create_index("ix_response_wave", "response", ["wave"])
    op.create_index("ix_response_completed_on", "response", ["completed_on"])
    op.create_table(
        "answer",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "response_id",
            sa.Uuid(),
            sa.ForeignKey("response.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("question_id", sa.String(64), nullable=False),
        sa.Column("option_id", sa.String(64), nullable=True),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("skipped", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_answer_response_id", "answer", ["response_id"])
    op.create_table(
        "opt_out",
        sa.Column("pseudonym", sa.String(80), primary_key=True),
        sa.Column("since", sa.Date(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("opt_out")
    op.drop_index("ix_answer_response_id", "answer")
    op.drop_table("answer")
    op.drop_index("ix_response_completed_on", "response")
    op.drop_index("ix_response_wave", "response")
    op.drop_index("ix_response_survey", "response")
    op.drop_table("response")
