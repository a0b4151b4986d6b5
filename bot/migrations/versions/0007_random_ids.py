"""Random answer ids and a random record key per response; existing rows rewritten shuffled.

A serial answer id numbered the answers in the order people finished; the table is rebuilt
with random UUIDs. Each response gets `record_key` (0..255, random), the key of the cell-key
perturbation. Existing responses and answers are written again in a random order, so their
position in the table no longer follows completion order either (on PostgreSQL the old row
versions stay in the files until `VACUUM FULL response, answer`: the README says to run it).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import secrets
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHUNK = 1000


def _response_table(*extra: sa.ColumnClause) -> sa.TableClause:
    return sa.table(
        "response",
        sa.column("id", sa.Uuid()),
        sa.column("survey", sa.String()),
        sa.column("survey_version", sa.String()),
        sa.column("wave", sa.String()),
        sa.column("language", sa.String()),
        sa.column("completed_on", sa.Date()),
        sa.column("completed_week", sa.String()),
        sa.column("choices_key", sa.Text()),
        sa.column("multi_key", sa.Text()),
        *extra,
    )


_ANSWER_COLUMNS = ("response_id", "question_id", "option_id", "number", "skipped")


def _answer_table(id_type: sa.types.TypeEngine) -> sa.TableClause:
    return sa.table(
        "answer",
        sa.column("id", id_type),
        sa.column("response_id", sa.Uuid()),
        sa.column("question_id", sa.String()),
        sa.column("option_id", sa.String()),
        sa.column("number", sa.Integer()),
        sa.column("skipped", sa.Boolean()),
    )


def _create_answer(id_column: sa.Column) -> None:
    op.create_table(
        "answer",
        id_column,
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


def _insert(connection, table: sa.TableClause, rows: list[dict]) -> None:  # noqa: ANN001
    for start in range(0, len(rows), CHUNK):
        connection.execute(table.insert(), rows[start : start + CHUNK])


def _rebuild(connection, *, random_ids: bool) -> list[dict]:  # noqa: ANN001
    """Read every answer, rebuild the table with the other kind of id, write them back."""
    old = _answer_table(sa.Integer() if random_ids else sa.Uuid())
    columns = [old.c[name] for name in _ANSWER_COLUMNS]
    answers = [dict(row._mapping) for row in connection.execute(sa.select(*columns))]
    op.drop_index("ix_answer_response_id", "answer")
    op.drop_table("answer")
    if random_ids:
        _create_answer(sa.Column("id", sa.Uuid(), primary_key=True))
        for row in answers:
            row["id"] = uuid.uuid4()
    else:
        _create_answer(sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True))
    return answers


def upgrade() -> None:
    connection = op.get_bind()
    answers = _rebuild(connection, random_ids=True)
    responses = [dict(row._mapping) for row in connection.execute(sa.select(_response_table()))]
    with op.batch_alter_table("response") as batch:
        batch.add_column(sa.Column("record_key", sa.SmallInteger(), nullable=True))
    shuffler = secrets.SystemRandom()
    shuffler.shuffle(responses)
    shuffler.shuffle(answers)
    for row in responses:
        row["record_key"] = secrets.randbelow(256)
    connection.execute(_response_table().delete())
    table = _response_table(sa.column("record_key", sa.SmallInteger()))
    _insert(connection, table, responses)
    # Before the answers are back: on SQLite this recreates the response table, and dropping
    # the old one would cascade to the answers that refer to it.
    with op.batch_alter_table("response") as batch:
        batch.alter_column("record_key", existing_type=sa.SmallInteger(), nullable=False)
    _insert(connection, _answer_table(sa.Uuid()), answers)


def downgrade() -> None:
    connection = op.get_bind()
    answers = _rebuild(connection, random_ids=False)
    with op.batch_alter_table("response") as batch:  # before the answers are back (see above)
        batch.drop_column("record_key")
    _insert(connection, _answer_table(sa.Integer()), answers)
