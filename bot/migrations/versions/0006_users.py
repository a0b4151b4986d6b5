"""Dashboard accounts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_user",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
    )
    op.create_index("ix_dashboard_user_email", "dashboard_user", ["email"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_dashboard_user_email", "dashboard_user")
    op.drop_table("dashboard_user")
