"""Outreach settings of a wave: its sending window, daily cap and reminders.

Revision ID: 0010_wave_outreach
Revises: 0008_releases
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_wave_outreach"
down_revision = "0008_releases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wave") as batch:
        batch.add_column(sa.Column("send_window", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("daily_cap", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("remind_after_days", sa.Integer(), nullable=False, server_default="3")
        )
        batch.add_column(
            sa.Column("max_reminders", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("wave") as batch:
        batch.drop_column("max_reminders")
        batch.drop_column("remind_after_days")
        batch.drop_column("daily_cap")
        batch.drop_column("send_window")
