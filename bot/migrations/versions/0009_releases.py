"""Releases: published snapshots of a wave's figures, what every view reads.

Revision ID: 0008_releases
Revises: 0008
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_releases"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("wave", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.UniqueConstraint("wave", "number", name="uq_release_wave_number"),
    )
    op.create_index("ix_release_wave", "release", ["wave"])


def downgrade() -> None:
    op.drop_index("ix_release_wave", "release")
    op.drop_table("release")
