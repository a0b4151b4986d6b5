"""Database tables. Nothing here can lead back to a respondent.

A response has a random id, the survey and wave it belongs to, its language and the *date*
it was completed: no pseudonym, no Twilio SID, no time of day. Answers have random ids too: no
serial column follows the order in which people finished (responses arrive in shuffled
batches, bot/records/batches.py). Opt-outs are kept by pseudonym
only, with no link to any answer.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Column, SmallInteger, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Response(SQLModel, table=True):
    """One completed questionnaire."""

    __tablename__ = "response"

    id: uuid.UUID = Field(primary_key=True)
    survey: str = Field(max_length=64, index=True)
    survey_version: str = Field(max_length=32)
    wave: str = Field(max_length=64, index=True)
    language: str = Field(max_length=8)
    completed_on: dt.date = Field(index=True)
    completed_week: str = Field(max_length=8, index=True)  # ISO week, e.g. 2026-W47
    # The answers again, as flat keys the aggregation groups by in one scan of this table:
    # "|status=lpr|years_in_us=gt10|" and "|fear_reasons=_answered|fear_reasons=language|".
    choices_key: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    multi_key: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # A fixed random number 0..255 drawn when the row is written: the cell-key perturbation
    # (bot/releases/cellkey.py) sums the keys of a cell's records, so a cell gets the same noise
    # in every release.
    record_key: int = Field(sa_column=Column(SmallInteger, nullable=False))


class Answer(SQLModel, table=True):
    """One answer of a response: an option, a number, or a skip. A multi question has one row
    per chosen option, so counting rows counts each option once per respondent."""

    __tablename__ = "answer"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    response_id: uuid.UUID = Field(foreign_key="response.id", index=True, ondelete="CASCADE")
    question_id: str = Field(max_length=64)
    option_id: str | None = Field(default=None, max_length=64)
    number: int | None = None
    skipped: bool = False


class OptOut(SQLModel, table=True):
    """A pseudonym that texted STOP (and not START since): never invite it again."""

    __tablename__ = "opt_out"

    pseudonym: str = Field(primary_key=True, max_length=80)
    since: dt.date


class AggregateProfile(SQLModel, table=True):
    """How many respondents of a wave, week and language gave one combination of choice
    answers, with the option counts of the multi questions among them.

    The report and the dashboard read these rows, never the raw answers; they are recomputed
    from the raw rows by the aggregation job. Internal only: published figures go through
    small-cell suppression first.
    """

    __tablename__ = "aggregate_profile"

    id: int | None = Field(default=None, primary_key=True)
    wave: str = Field(max_length=64, index=True)
    week: str = Field(max_length=8)
    language: str = Field(max_length=8)
    choices: dict = Field(sa_column=Column(JSON, nullable=False))
    respondents: int
    multi: dict = Field(sa_column=Column(JSON, nullable=False))
    # The sum of the respondents' record keys (mod 256), and per multi option: the cell keys
    # of the counts they add to (bot/releases/cellkey.py). Never published.
    key_sum: int = 0
    multi_keys: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ReportDelivery(SQLModel, table=True):
    """The weekly report of one wave and ISO week: claimed before sending, marked sent after.

    The primary key makes the claim atomic: of two cron firings, two cron processes or a
    retried job, only one can insert the row, so a week's report goes out at most once.
    """

    __tablename__ = "report_delivery"

    wave: str = Field(primary_key=True, max_length=64)
    week: str = Field(primary_key=True, max_length=8)
    status: str = Field(max_length=16)  # DeliveryStatus
    claimed_on: dt.date
    sent_on: dt.date | None = None
    recipients: int = 0


class Wave(SQLModel, table=True):
    """A survey wave: a named period with its own questionnaire snapshot and start keywords."""

    __tablename__ = "wave"

    name: str = Field(primary_key=True, max_length=64)
    title: str = Field(default="", max_length=200)
    survey_file: str = Field(default="", max_length=500)
    # The questionnaire as it was when the wave opened: editing the YAML never changes a
    # running wave. Empty while the wave is a draft.
    questionnaire_yaml: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    questionnaire_digest: str = Field(default="", max_length=64)
    start_keywords: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="draft", max_length=16)  # WaveStatus
    is_default: bool = False
    opens_at: dt.datetime | None = None  # organizers' schedule, not respondents' data
    closes_at: dt.datetime | None = None
    created_on: dt.date
    # Outreach (bot/outreach/pacing.py): the hours texts may reach people in their local time
    # ("" for SEND_WINDOW), this wave's own daily cap (None: only the sender's), and reminders.
    send_window: str = Field(default="", max_length=16)
    daily_cap: int | None = None
    remind_after_days: int = 3
    max_reminders: int = 1


class User(SQLModel, table=True):
    """An organizer's dashboard account (coalition staff; never a respondent).

    `email` is stored lowercased. `role` is a `bot.dashboard.accounts.Role`; a disabled account
    cannot sign in and its open sessions stop working at their next request.
    """

    __tablename__ = "dashboard_user"  # "user" is a reserved word in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    disabled: bool = False
    created_on: dt.date


class Release(SQLModel, table=True):
    """A published snapshot of a wave's figures: what every view shows, never updated or
    deleted once made (a viewer may have saved it).

    `content` holds published (already protected) figures only: the wave-so-far report, the
    report of each week with responses, and the funnel. `made_on` is a date (no time of day);
    `responses` is how many stored responses it covers. (wave, number) is unique, so two
    processes making the same release at once insert one row.
    """

    __tablename__ = "release"
    __table_args__ = (UniqueConstraint("wave", "number", name="uq_release_wave_number"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    wave: str = Field(max_length=64, index=True)
    number: int
    made_on: dt.date
    responses: int
    content: dict = Field(sa_column=Column(JSON, nullable=False))
