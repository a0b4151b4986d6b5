"""Aggregate profiles carry the cell keys of their respondents (bot/releases/cellkey.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Profiles are derived data: the next refresh of each wave fills the keys in.
    with op.batch_alter_table("aggregate_profile") as batch:
        batch.add_column(sa.Column("key_sum", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("multi_keys", sa.JSON(), nullable=False, server_default="{}"))
    op.execute("DELETE FROM aggregate_profile")


def downgrade() -> None:
    with op.batch_alter_table("aggregate_profile") as batch:
        batch.drop_column("multi_keys")
        batch.drop_column("key_sum")
