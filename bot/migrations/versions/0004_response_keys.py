"""Flat answer keys on each response, so aggregation is one scan of the response table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _backfill(connection) -> None:  # noqa: ANN001
    """Compute the keys of responses stored before this revision from their answer rows."""
    from bot.core.questionnaire import QuestionType, load_questionnaire
    from bot.releases.profile_keys import choices_key, multi_key

    multi_ids = {q.id for q in load_questionnaire().questions if q.type is QuestionType.MULTI}
    response = sa.table(
        "response", sa.column("id", sa.Uuid()), sa.column("choices_key"), sa.column("multi_key")
    )
    answer = sa.table(
        "answer",
        sa.column("response_id", sa.Uuid()),
        sa.column("question_id"),
        sa.column("option_id"),
        sa.column("skipped", sa.Boolean()),
    )
    answers: dict = defaultdict(dict)
    rows = connection.execute(
        sa.select(answer.c.response_id, answer.c.question_id, answer.c.option_id).where(
            answer.c.option_id.is_not(None), answer.c.skipped.is_(False)
        )
    )
    for response_id, question_id, option_id in rows:
        if question_id in multi_ids:
            answers[response_id].setdefault(question_id, []).append(option_id)
        else:
            answers[response_id][question_id] = option_id
    for response_id, values in answers.items():
        connection.execute(
            response.update()
            .where(response.c.id == response_id)
            .values(choices_key=choices_key(values), multi_key=multi_key(values))
        )


def upgrade() -> None:
    with op.batch_alter_table("response") as batch:
        batch.add_column(sa.Column("choices_key", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("multi_key", sa.Text(), nullable=False, server_default=""))
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("response") as batch:
        batch.drop_column("multi_key")
        batch.drop_column("choices_key")
