"""The privacy promise, tested where it can break: the files a seized server holds.

Redis runs as the README asks production to run it (`appendonly yes`, its own server), the
database is the test database (PostgreSQL in CI). After real conversations by text, on
WhatsApp and by phone (finished, restarted, stopped, declined, abandoned), invitations and
scheduled deletions at Twilio, the tests read Redis's append-only files command by command,
its snapshot, the database's files and the logs, as the issue's attacker would:

- with the files alone: no phone number, no Twilio SID, no answer in clear anywhere; no write
  (one command, or one MULTI/EXEC) that names a respondent's pseudonym carries an answer or a
  per-respondent counter, and no job record with exact times carries one either;
- with every secret and the list of numbers as well: after the storage batch and the hourly
  rewrite, nothing links a number to an answer except a conversation still in flight;
- the database: responses of a batch share one transaction, and no column or row order
  follows the order in which people finished.
"""

from __future__ import annotations

import logging
import zlib

import pytest
from sqlalchemy import text as sql
from sqlmodel import Session

from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.privacy import pseudonym
from bot.infra.sealing import conversation_cipher
from bot.outreach.invitations import queue_invitations
from bot.outreach.waves import create_wave, open_wave
from bot.records.compaction import rewrite_history
from bot.records.sessions import ENCRYPTED
from tests.redis_server import redis_server
from tests.test_privacy import (
    CALLERS,
    NUMBERS,
    SPOKEN,
    WHATSAPP,
    conversations,
    converse,
    formats,
)
from tests.utils import PROFILE_NAME, run_jobs
from workers import context

__all__ = ["conversations"]  # the fixture of tests/test_privacy.py, used here as it is

ABANDONED = "+13055550777"  # starts, answers two questions, never comes back
INVITED = ["+13055550881", "+13055550882"]
# What an answer looks like in clear next to a respondent or a job: the storage payload's
# fields and the questionnaire's question ids (keys of answers, or of per-question counters).
# The registry of open waves holds the questionnaire itself, which names them for everyone.
ANSWER_MARKERS = (
    b'"answers"',
    b"afraid_to_seek_help",
    b"fear_reasons",
    b"would_report_crime",
    b"years_in_us",
)
TIME_FIELDS = (b"created_at", b"enqueued_at", b"started_at", b"ended_at")


@pytest.fixture
def persistent(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis-aof"), persistent=True) as server:
        yield server


@pytest.fixture
def redis_url(persistent):
    """This module's Redis: one of its own, persisting as production does."""
    return persistent.url


@pytest.fixture
def settings_overrides(settings_overrides):
    """Deletion at Twilio on, so deletion jobs (with their SIDs) are scheduled too."""
    return {
        **settings_overrides,
        "TWILIO_DELETE_MESSAGES": "1",
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    }


def resp_commands(data: bytes) -> list[list[bytes]]:
    """The commands of an append-only file (RESP arrays); an RDB preamble is skipped."""
    commands, i = [], data.find(b"*")
    while 0 <= i < len(data):
        if data[i : i + 1] != b"*":
            i = data.find(b"\n*", i) + 1 or len(data)
            continue
        end = data.index(b"\r\n", i)
        count, i = int(data[i + 1 : end]), end + 2
        command = []
        for _ in range(count):
            end = data.index(b"\r\n", i)
            size = int(data[i + 1 : end])
            command.append(data[end + 2 : end + 2 + size])
            i = end + 2 + size + 2
        commands.append(command)
    return commands


def writes(server) -> list[bytes]:  # noqa: ANN001
    """Redis's persisted writes, one blob per transaction (or per lone command), with the
    values RQ compressed decompressed beside them."""
    groups: list[list[bytes]] = []
    current: list[bytes] | None = None
    for path in server.persisted_files():
        if ".incr." not in path.name and not path.name.endswith(".aof"):
            continue
        for command in resp_commands(path.read_bytes()):
            name = command[0].upper()
            if name == b"MULTI":
                current = []
            elif name == b"EXEC":
                groups.append(current or [])
                current = None
            else:
                line = b" ".join([*command, *_decompressed(command)])
                if current is None:
                    groups.append([line])
                else:
                    current.append(line)
    return [b"\n".join(group) for group in groups]


def _decompressed(values: list[bytes]) -> list[bytes]:
    out = []
    for value in values:
        try:
            out.append(zlib.decompress(value))
        except zlib.error:
            pass
    return out


def on_disk(server) -> bytes:  # noqa: ANN001
    return b"\n".join(path.read_bytes() for path in server.persisted_files())


def assert_no_identifier(blob: bytes, numbers, sids, where: str) -> None:  # noqa: ANN001
    as_text = blob.decode("utf-8", "replace")
    for number in numbers:
        for shape in formats(number):
            assert shape not in as_text, f"{shape!r} in {where}"
    for sid in sids:
        assert sid not in as_text, f"a Twilio SID in {where}"
    assert SPOKEN not in as_text, f"a spoken answer in {where}"
    assert PROFILE_NAME not in as_text, f"a WhatsApp ProfileName in {where}"


@pytest.fixture
def everything(app, persistent, db, caplog):  # noqa: ANN001
    """The conversations of tests/test_privacy.py, an abandoned one, two invitations."""
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    sids = converse(client, ABANDONED, ["SURVEY", "1", "1", "2"])
    app_state = app.extensions["surveybot"]
    with Session(get_engine(db)) as session:  # a wave organizers open, to invite members to
        create_wave(session, name="summer-2026", title="Summer 2026")
        open_wave(session, app_state.redis, "summer-2026", allow_placeholders=True)
    queue_invitations(
        app_state.settings,
        app_state.redis,
        app_state.queue,
        wave="summer-2026",
        numbers=INVITED,
        language="es",
    )
    return sids


def test_the_files_alone_hold_no_identifier_and_no_answer_in_clear(
    app, persistent, conversations, everything
):
    numbers = [*NUMBERS, *CALLERS, ABANDONED, "+13055550999", *INVITED, *WHATSAPP]
    sids = [*conversations, *everything]
    settings = app.extensions["surveybot"].settings
    pseudonyms = [pseudonym(settings.PSEUDONYM_KEY, n).encode() for n in numbers]
    groups = writes(persistent)
    assert len(groups) > 100, "the scan must read the append-only file's writes"
    assert any(b":session" in g for g in groups) and any(b"rq:job:" in g for g in groups)
    assert_no_identifier(on_disk(persistent), numbers, sids, "Redis's files")
    for group in groups:
        assert_no_identifier(group, numbers, sids, "a decompressed job")
        assert b'"answers"' not in group, f"a response in clear in a write: {group[:300]!r}"
        about_someone = any(p in group for p in pseudonyms) or b"rq:job:" in group
        for marker in ANSWER_MARKERS if about_someone else ():
            assert marker not in group, f"{marker!r} in clear in a write: {group[:300]!r}"
        if any(p in group for p in pseudonyms) and b"record_opt_" not in group:
            # Only an opt-out's own job (no answer in it) carries a pseudonym and job times.
            assert not any(f in group for f in TIME_FIELDS), (
                "a job with exact times next to a respondent's pseudonym"
            )
    # Conversation values are written encrypted: no step of any conversation reads as JSON.
    for group in groups:
        for line in group.split(b"\n"):
            if line.startswith(b"SET sb:{") and (b":session " in line or b":msg:" in line):
                value = line.split(b" ", 2)[2]
                assert value.startswith(ENCRYPTED), line[:120]


def test_with_every_secret_the_rewritten_files_link_no_number_to_an_answer(
    app, persistent, db, conversations, everything
):
    numbers = [*NUMBERS, *CALLERS, "+13055550999", *INVITED, *WHATSAPP]
    settings = app.extensions["surveybot"].settings
    context.configure(settings)
    # The storage batch drains the inbox into the database (deletions at Twilio stay scheduled).
    run_jobs(app, scheduled=False)
    redis = app.extensions["surveybot"].redis
    assert redis.scard(keys.STORAGE_INBOX) == 0
    assert rewrite_history(redis) == "append-only file rewrite started"
    persistent.wait_for_rewrite()
    files = on_disk(persistent)
    assert b"workers.storage" not in files, "a finished storage job outlived the rewrite"
    # The attacker has every secret and every number: what is left under each pseudonym?
    for number in numbers:
        p = pseudonym(settings.PSEUDONYM_KEY, number).encode()
        assert b"{" + p + b"}:session" not in files, "an ended conversation outlived the rewrite"
    # Only the abandoned conversation is still in flight (until SESSION_TTL_HOURS): it opens
    # with its number, as the README says.
    live = redis.get(keys.session(pseudonym(settings.PSEUDONYM_KEY, ABANDONED)))
    assert live is not None and live in files
    cipher = conversation_cipher(settings.PSEUDONYM_KEY, ABANDONED)
    assert b'"answers"' in cipher.decrypt(live[len(ENCRYPTED) :])


def test_the_database_keeps_no_order_and_no_time(app, db, conversations, everything):
    run_jobs(app, scheduled=False)
    engine = get_engine(db)
    with engine.connect() as connection:
        columns = {
            table: [
                row[0]
                for row in connection.execute(
                    sql("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
                    {"t": table},
                )
            ]
            for table in ("response", "answer")
        }
        if engine.dialect.name == "postgresql":
            # One transaction wrote the whole batch: WAL commit times date the batch, not people.
            batches = connection.execute(
                sql("SELECT count(DISTINCT xmin::text) FROM response")
            ).scalar()
            answers = connection.execute(
                sql("SELECT count(DISTINCT xmin::text) FROM answer")
            ).scalar()
            assert (batches, answers) == (1, 1)
            defaults = connection.execute(
                sql(
                    "SELECT column_name, column_default FROM information_schema.columns "
                    "WHERE table_name IN ('response', 'answer') AND column_default LIKE 'nextval%'"
                )
            ).all()
            assert defaults == [], "a serial column follows the order of completion"
    for table, names in columns.items():
        assert not any("time" in n or n.endswith("_at") for n in names), (table, names)
