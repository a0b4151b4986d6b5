"""Invitations: the upload check, the send jobs through a fake Twilio, the shared rate limiter,
status callbacks, the CLI, and the scan proving no number is left behind.

Twilio is faked at its HTTP boundary (tests/fake_twilio.py); Redis and the database are real.
No assertion is about elapsed time: the limiter is tested on a fake clock and by counting the
slots it granted in Redis.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import logging
import random
import re
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from rq.registry import ScheduledJobRegistry
from sqlmodel import Session, select

from bot.cli.invite import invite_command
from bot.core.smsencoding import describe, summary
from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.models import OptOut
from bot.infra.privacy import message_digest, pseudonym
from bot.infra.queues import get_queue
from bot.outreach.invitations import (
    CLAIM_PENDING_TTL_SECONDS,
    DEFAULT_INVITATIONS,
    SEND_RETRY_INTERVALS,
    InvitationError,
    describe_check,
    invitation_text,
    parse_invitation_csv,
    queue_invitations,
    wave_invitation,
)
from bot.outreach.progress import invitation_progress
from bot.outreach.ratelimit import RATE_LIMIT_KEY, SendRateLimiter, SlotTimeout
from bot.outreach.waves import close_wave, create_wave, open_wave
from tests.factories import REAL_RESOURCES, finished_survey
from tests.fake_twilio import (
    INVALID_NUMBER,
    SERVER_ERROR,
    TOO_MANY_REQUESTS,
    UNSUBSCRIBED,
    FakeTwilio,
)
from tests.test_privacy import assert_clean, database_dump, formats, redis_dump, sealed_arguments
from tests.utils import no_jobs_left, open_test_wave, run_queued, sms_status
from workers import context
from workers.worker import ProjectSimpleWorker as SimpleWorker

REPO_ROOT = Path(__file__).resolve().parent.parent
WAVE = "summer-2026"
ACCOUNT = "AC" + "1" * 32
SERVICE = "MG" + "2" * 32
NUMBERS = ["+13055550123", "+17865550188", "+19545550147", "+12025550199"]


# ------------------------------------------------------------------------------------ helpers


@pytest.fixture
def wave(app, db, redis):
    """An open wave."""
    open_test_wave(db, redis, WAVE)
    return WAVE


@pytest.fixture
def twilio(app):
    """A fake Twilio, and settings sending to it through a Messaging Service (fast rate)."""
    with FakeTwilio() as fake:
        settings = replace(
            app.extensions["surveybot"].settings,
            TWILIO_ACCOUNT_SID=ACCOUNT,
            TWILIO_MESSAGING_SERVICE_SID=SERVICE,
            TWILIO_API_BASE_URL=fake.url,
            SEND_RATE_PER_SECOND=1000.0,
        )
        context.configure(settings)
        yield fake, settings


def run_all(redis, settings) -> None:
    """Run every queued job in this process; retries scheduled for later run now."""
    run_queued(redis, settings)


def invite(app, redis, settings, numbers, language="en"):
    queue = get_queue(redis)
    return queue_invitations(
        settings, redis, queue, wave=WAVE, numbers=list(numbers), language=language
    )


def stats(redis, wave=WAVE) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in redis.hgetall(keys.invite_stats(wave)).items()}


def p_of(settings, number) -> str:
    return pseudonym(settings.PSEUDONYM_KEY, number)


def status_callback(client, app, sid, status, to, code=""):
    sms_status(client, sid, status, to=to, code=code)


# ------------------------------------------------------------------------------ upload check


def test_csv_with_a_header_bom_duplicates_and_invalid_rows():
    data = (
        "\ufeffName,Teléfono,Notes\r\n"
        "Ana,(305) 555-0123,\r\n"  # line 2
        "Bo,305.555.0123,same number again\r\n"  # line 3: duplicate
        "Cy,12,\r\n"  # line 4: too short
        "\r\n"  # line 5: blank, ignored
        "Di,+509 3412 5678,Haiti\r\n"  # line 6
        "Ed,1.30556E+10,Excel\r\n"  # line 7: scientific notation
        "Fa,,no number\r\n"  # line 8
        "Gi,+1 202 555 0199,\r\n"  # line 9
        "Ho,+1 305 555 0123,\r\n"  # line 10: duplicate in another format
    ).encode()
    check = parse_invitation_csv(data, default_region="US")
    assert check.valid == ["+13055550123", "+50934125678", "+12025550199"]
    assert [line for line, _ in check.invalid] == [4, 7, 8]
    assert check.invalid[0][1] == "too short"
    assert "scientific notation" in check.invalid[1][1]
    assert check.invalid[2][1] == "no number"
    assert (check.duplicates, check.total_rows) == (2, 8)
    for _, reason in check.invalid:
        assert not re.search(r"\d", reason), "a reason must never repeat the number"


def test_csv_without_a_header_reads_the_first_column():
    data = b"3055550123,Ana\n(786) 555-0188,Bo\n555-0147,Cy\n"
    check = parse_invitation_csv(data, default_region="US")
    assert check.valid == ["+13055550123", "+17865550188"]
    assert check.invalid == [(3, "no area code")]
    assert check.total_rows == 3


@pytest.mark.parametrize("header", ["phone", "Number", "telefono", "Phone_Number", "Celular"])
def test_csv_finds_the_phone_column_by_its_header(header):
    data = f"name;{header};city\nAna;3055550123;Miami\nBo;+1 786-555-0188;Homestead\n".encode()
    check = parse_invitation_csv(data, default_region="US")
    assert check.valid == ["+13055550123", "+17865550188"]
    assert check.total_rows == 2


def test_excel_exports_windows_1252_and_utf16_tab_separated():
    cp1252 = "Nombre;Teléfono\r\nJosé;305-555-0123\r\n".encode("cp1252")
    assert parse_invitation_csv(cp1252, default_region="US").valid == ["+13055550123"]
    utf16 = "Name\tPhone\r\nAna\t(305) 555-0123\r\n".encode("utf-16")
    assert parse_invitation_csv(utf16, default_region="US").valid == ["+13055550123"]


def test_numbers_without_a_country_code_are_read_in_the_default_region():
    data = b"3412 5678\n+1 305 555 0123\n"
    haiti = parse_invitation_csv(data, default_region="HT")
    assert haiti.valid == ["+50934125678", "+13055550123"]
    us = parse_invitation_csv(data, default_region="US")
    assert us.valid == ["+13055550123"]
    assert [line for line, _ in us.invalid] == [1]
    with pytest.raises(InvitationError, match="region"):
        parse_invitation_csv(data, default_region="XX")


def test_the_check_says_nothing_of_opt_outs(app, db, redis):
    """An organizer who uploads one number, or two files that differ by one, cannot learn
    whether that person texted STOP: the check reads the same either way."""
    settings = app.extensions["surveybot"].settings
    redis.set(keys.opted_out(p_of(settings, NUMBERS[0])), "1")
    with Session(get_engine(db)) as session:
        session.add(OptOut(pseudonym=p_of(settings, NUMBERS[1]), since=dt.date(2026, 6, 1)))
        session.commit()
    described = {}
    for number in NUMBERS[:3]:  # opted out in Redis, in the database, not at all
        check = parse_invitation_csv(f"phone\n{number}\n".encode(), default_region="US")
        assert check.valid == [number]
        described[number] = describe_check(check)
    assert len({tuple(lines) for lines in described.values()}) == 1


def test_a_number_opted_out_only_in_the_database_is_not_texted(app, db, wave, redis, twilio):
    fake, settings = twilio
    with Session(get_engine(db)) as session:
        session.add(OptOut(pseudonym=p_of(settings, NUMBERS[1]), since=dt.date(2026, 6, 1)))
        session.commit()
    invite(app, redis, settings, NUMBERS[:2])
    run_all(redis, settings)
    assert [r["form"]["To"] for r in fake.requests] == [NUMBERS[0]]
    assert stats(redis)["opted_out"] == 1


def test_the_summary_names_lines_and_counts_only():
    data = "\n".join(["phone"] + ["12"] * 25 + ["3055550123"]).encode()
    lines = describe_check(parse_invitation_csv(data, default_region="US"))
    assert lines[0] == (
        "26 rows: 1 to invite, 25 invalid, 0 duplicates dropped; numbers that opted out (STOP) "
        "are skipped when the texts go out, without saying which or how many"
    )
    assert lines[1] == "  line 2: too short"
    assert lines[-1] == "  ... and 5 more invalid rows"
    assert not any("3055550123" in line for line in lines)


# ---------------------------------------------------------------------------------- the text


def test_invitation_text_per_language_uses_the_wave_keyword(app, wave, redis):
    texts = {lang: wave_invitation(redis, WAVE, lang) for lang in ("en", "es", "ht")}
    assert texts["en"].startswith("The coalition asks how safe our community feels.")
    assert "Reply SURVEY" in texts["en"] and "STOP" in texts["en"]
    assert "Responda ENCUESTA" in texts["es"]
    assert "Reponn SONDAJ" in texts["ht"]
    assert set(DEFAULT_INVITATIONS) == {"en", "es", "ht"}
    with pytest.raises(InvitationError, match="'fr'"):
        wave_invitation(redis, WAVE, "fr")


def test_a_questionnaire_invitation_message_wins(app):
    q = app.extensions["surveybot"].questionnaire
    own = replace(q, messages={**q.messages, "invitation": {"en": "Hi from {org}!"}})
    assert invitation_text(own, "en") == "Hi from the coalition!"
    assert invitation_text(own, "es").startswith("The coalition pregunta")  # default fills in


# --------------------------------------------------------------------------------- queue, send


def test_invitations_go_through_twilio_and_leave_markers(app, wave, redis, twilio):
    fake, settings = twilio
    assert invite(app, redis, settings, NUMBERS[:2], language="es") == 2
    assert stats(redis) == {"queued": 2}
    run_all(redis, settings)

    assert sorted(r["form"]["To"] for r in fake.requests) == sorted(NUMBERS[:2])
    body = wave_invitation(redis, WAVE, "es")
    for request in fake.requests:
        assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        assert request["form"]["Body"] == body
        assert request["form"]["MessagingServiceSid"] == SERVICE
        assert request["form"]["StatusCallback"] == "https://bot.example.org/twilio/sms/status"
    for number in NUMBERS[:2]:
        marker = keys.invited(p_of(settings, number))
        assert json.loads(redis.get(marker)) == {"wave": WAVE, "lang": "es"}
        assert 0 < redis.ttl(marker) <= 30 * 24 * 3600
        claim = keys.invite_claim(p_of(settings, number), WAVE)
        assert CLAIM_PENDING_TTL_SECONDS < redis.ttl(claim) <= 30 * 24 * 3600
    for sid in fake.sids:
        key = keys.invite_message(message_digest(settings.PSEUDONYM_KEY, sid))
        assert redis.get(key) == WAVE.encode()
        assert 0 < redis.ttl(key) <= 4 * 24 * 3600
    assert stats(redis) == {"queued": 2, "sent": 2, "processed": 2}
    no_jobs_left(redis)


def test_sending_from_a_number(app, wave, redis, twilio):
    fake, settings = twilio
    settings = replace(settings, TWILIO_MESSAGING_SERVICE_SID="", TWILIO_FROM_NUMBER="+15005550006")
    invite(app, redis, settings, NUMBERS[:1])
    run_all(redis, settings)
    [request] = fake.requests
    assert request["form"]["From"] == "+15005550006"
    assert "MessagingServiceSid" not in request["form"]


def test_without_twilio_invitations_go_to_the_simulator(app, wave, redis):
    settings = replace(app.extensions["surveybot"].settings, SEND_RATE_PER_SECOND=1000.0)
    invite(app, redis, settings, NUMBERS[:1])
    run_all(redis, settings)
    outbox = redis.lrange(keys.simulator_outbox(p_of(settings, NUMBERS[0])), 0, -1)
    assert [json.loads(m)["body"] for m in outbox] == [wave_invitation(redis, WAVE, "en")]
    assert stats(redis)["sent"] == 1


def test_only_an_open_wave_invites_and_only_checked_numbers(app, db, wave, redis):
    settings = app.extensions["surveybot"].settings
    queue = get_queue(redis)
    with pytest.raises(InvitationError, match="not open"):
        queue_invitations(settings, redis, queue, wave="nope", numbers=NUMBERS, language="en")
    with pytest.raises(InvitationError) as caught:
        queue_invitations(
            settings, redis, queue, wave=WAVE, numbers=["305-555-0123"], language="en"
        )
    assert "555" not in str(caught.value)
    with Session(get_engine(db)) as session:
        close_wave(session, redis, WAVE)
    with pytest.raises(InvitationError, match="not open"):
        queue_invitations(settings, redis, queue, wave=WAVE, numbers=NUMBERS, language="en")
    assert queue.count == 0


def test_error_21610_marks_the_recipient_opted_out(app, db, wave, redis, twilio):
    fake, settings = twilio
    fake.fail_for[NUMBERS[0]] = UNSUBSCRIBED
    invite(app, redis, settings, NUMBERS[:2])
    run_all(redis, settings)
    p = p_of(settings, NUMBERS[0])
    assert redis.get(keys.opted_out(p)) == b"1"
    assert not redis.exists(keys.invited(p))
    with Session(get_engine(db)) as session:
        assert [row.pseudonym for row in session.exec(select(OptOut))] == [p]
    assert stats(redis) == {
        "queued": 2,
        "sent": 1,
        "opted_out": 1,
        "error:21610": 1,
        "processed": 2,
    }
    no_jobs_left(redis)


def test_temporary_errors_are_retried_with_backoff(app, wave, redis, twilio):
    fake, settings = twilio
    fake.fail_next(SERVER_ERROR, TOO_MANY_REQUESTS)
    invite(app, redis, settings, NUMBERS[:1])
    queue = get_queue(redis)
    SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)
    scheduled = ScheduledJobRegistry(queue=queue)
    assert scheduled.count == 1, "a 500 schedules a retry for later"
    run_all(redis, settings)
    assert len(fake.requests) == 3
    assert stats(redis) == {"queued": 1, "sent": 1, "processed": 1}
    assert redis.exists(keys.invited(p_of(settings, NUMBERS[0])))
    no_jobs_left(redis)


def test_temporary_errors_that_outlast_the_retries_count_as_failed(app, wave, redis, twilio):
    fake, settings = twilio
    fake.error = SERVER_ERROR
    invite(app, redis, settings, NUMBERS[:1])
    run_all(redis, settings)
    assert len(fake.requests) == len(SEND_RETRY_INTERVALS) + 1
    assert stats(redis) == {"queued": 1, "failed": 1, "error:temporary": 1, "processed": 1}
    p = p_of(settings, NUMBERS[0])
    assert not redis.exists(keys.invited(p))
    assert not redis.exists(keys.invite_claim(p, WAVE)), "a later upload may try again"
    no_jobs_left(redis)


def test_no_connection_is_a_temporary_error(app, wave, redis, twilio):
    _, settings = twilio
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once closed
    settings = replace(settings, TWILIO_API_BASE_URL=closed)
    invite(app, redis, settings, NUMBERS[:1])
    run_all(redis, settings)
    assert stats(redis) == {"queued": 1, "failed": 1, "error:temporary": 1, "processed": 1}
    no_jobs_left(redis)


def test_a_permanent_error_is_counted_and_not_retried(app, wave, redis, twilio):
    fake, settings = twilio
    fake.fail_for[NUMBERS[1]] = INVALID_NUMBER
    invite(app, redis, settings, NUMBERS[:2])
    run_all(redis, settings)
    assert len(fake.requests) == 2
    assert stats(redis) == {
        "queued": 2,
        "sent": 1,
        "failed": 1,
        "error:21211": 1,
        "processed": 2,
    }
    no_jobs_left(redis)


def test_opted_out_closed_or_already_invited_numbers_are_not_texted(app, db, wave, redis, twilio):
    fake, settings = twilio
    invite(app, redis, settings, NUMBERS[:1])
    run_all(redis, settings)
    invite(app, redis, settings, NUMBERS[:2])  # the first number again
    redis.set(keys.opted_out(p_of(settings, NUMBERS[1])), "1")  # STOP after the upload
    run_all(redis, settings)
    assert [r["form"]["To"] for r in fake.requests] == [NUMBERS[0]]
    assert stats(redis) == {
        "queued": 3,
        "sent": 1,
        "skipped": 1,
        "opted_out": 1,
        "processed": 3,
    }
    invite(app, redis, settings, NUMBERS[2:3])
    with Session(get_engine(db)) as session:
        close_wave(session, redis, WAVE)
    run_all(redis, settings)
    assert len(fake.requests) == 1
    assert stats(redis)["canceled"] == 1
    progress = invitation_progress(redis, WAVE)
    assert (progress.queued, progress.pending, progress.sent, progress.skipped) == (
        4,
        0,
        1,
        3,
    )  # skipped: with the opted-out one


# ---------------------------------------------------------------------------- status callbacks


def test_status_callbacks_update_the_wave_progress(app, client, wave, redis, twilio):
    fake, settings = twilio
    invite(app, redis, settings, NUMBERS[:3])
    run_all(redis, settings)
    to_of = {r["sid"]: r["form"]["To"] for r in fake.requests}
    sids = sorted(to_of, key=lambda sid: NUMBERS.index(to_of[sid]))
    status_callback(client, app, sids[0], "sent", to_of[sids[0]])
    status_callback(client, app, sids[0], "delivered", to_of[sids[0]])
    status_callback(client, app, sids[0], "delivered", to_of[sids[0]])  # counted once
    status_callback(client, app, sids[1], "undelivered", to_of[sids[1]], code="30003")
    status_callback(client, app, sids[2], "failed", to_of[sids[2]], code="21610")
    status_callback(client, app, "SM" + "f" * 32, "delivered", "+13055550999")  # not ours

    assert stats(redis) == {
        "queued": 3,
        "sent": 3,
        "processed": 3,
        "delivered": 1,
        "undelivered": 1,
        "error:30003": 1,
        "opted_out": 1,
        "error:21610": 1,
    }
    progress = invitation_progress(redis, WAVE)
    assert (progress.sent, progress.delivered, progress.failed, progress.opted_out) == (3, 1, 1, 1)
    p = p_of(settings, NUMBERS[2])
    assert redis.get(keys.opted_out(p)) == b"1"
    assert not redis.exists(keys.invited(p))
    for sid in sids:  # a final status takes the message's entry with it
        assert not redis.exists(keys.invite_message(message_digest(settings.PSEUDONYM_KEY, sid)))


# -------------------------------------------------------------------------------- rate limiter


def max_in_window(times: list[float], window: float) -> int:
    """The most of `times` in any half-open window [t, t + window)."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0
    )


@pytest.mark.parametrize("rate", [1, 10, 100])
def test_the_limiter_never_grants_more_than_the_rate_in_any_second(redis, rate):
    """Many workers asking at random moments of a fake clock: every granted slot is at least
    (1 + margin) / rate after the one before, so no one-second window holds more than `rate`."""
    limiter = SendRateLimiter(redis, rate)
    rng = random.Random(rate)
    now = 1_800_000_000_000_000  # microseconds
    slots = []
    for _ in range(rate * 30):
        now += rng.choice([0, 0, 1, 50, 1_000, rng.randrange(3_000_000 // rate)])
        answer = limiter.reserve(now_us=now)
        assert answer.wait >= 0
        if answer.granted:
            assert answer.slot_us == now + round(answer.wait * 1_000_000)
            slots.append(answer.slot_us)
        else:
            assert answer.wait > 0
    assert len(slots) > rate * 3, "the test must see many grants"
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert min(gaps) == limiter.interval_us >= 1_000_000 / rate
    assert max_in_window([s / 1_000_000 for s in slots], 1.0) <= rate


def test_the_limiter_is_shared_by_concurrent_clients(redis_url, redis):
    """Eight threads with their own connections reserve on Redis's clock: the grants they got,
    counted afterwards, are distinct slots an interval apart."""
    from redis import Redis

    rate, per_thread = 100, 20
    slots: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        connection = Redis.from_url(redis_url)
        limiter = SendRateLimiter(connection, rate)
        mine = []
        for _ in range(per_thread):
            answer = limiter.reserve()
            if answer.granted:
                mine.append(answer.slot_us)
        connection.close()
        with lock:
            slots.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    interval = SendRateLimiter(redis, rate).interval_us
    assert len(slots) == 8 * per_thread  # 160 slots: 1.6 s, within the 2 s a slot may be held ahead
    ordered = sorted(slots)
    assert all(b - a >= interval for a, b in zip(ordered, ordered[1:], strict=False))
    assert max_in_window([s / 1_000_000 for s in ordered], 1.0) <= rate
    assert int(redis.get(RATE_LIMIT_KEY)) == ordered[-1] + interval


def test_acquire_sleeps_until_its_slot_and_gives_up_after_its_timeout(redis):
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    limiter = SendRateLimiter(redis, 1, sleep=sleep, monotonic=lambda: clock[0])
    limiter.acquire()
    assert sleeps == []  # the first slot is now
    limiter.acquire()
    assert len(sleeps) == 1 and 0 < sleeps[0] <= limiter.interval_us / 1_000_000  # next slot
    # Every slot within reach taken (as by many other workers): wait, poll, give up.
    redis.set(RATE_LIMIT_KEY, str(int(redis.time()[0] + 3600) * 1_000_000))
    sleeps.clear()
    with pytest.raises(SlotTimeout):
        limiter.acquire(timeout=5)
    assert sum(sleeps) == pytest.approx(5) and max(sleeps) <= 1.0
    with pytest.raises(ValueError):
        SendRateLimiter(redis, 0)


# ---------------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(app, monkeypatch):
    settings = app.extensions["surveybot"].settings
    values = {
        "SURVEYBOT_ENV": "test",
        "REDIS_URL": settings.REDIS_URL,
        "DATABASE_URL": settings.DATABASE_URL,
        "PSEUDONYM_KEY": settings.PSEUDONYM_KEY,
        "SEND_RATE_PER_SECOND": "2",
        "DEFAULT_PHONE_REGION": "US",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return settings


def test_cli_shows_the_check_and_asks_before_queueing(cli_env, wave, redis, tmp_path):
    redis.set(keys.opted_out(p_of(cli_env, NUMBERS[3])), "1")
    upload = tmp_path / "members.csv"
    upload.write_text(
        "phone\n(305) 555-0123\n786-555-0188\n12\n305.555.0123\n+1 202 555 0199\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(invite_command, [WAVE, str(upload), "--language", "es"], input="n\n")
    assert result.exit_code == 0, result.output
    # The opted-out number is in the count: the check never tells who opted out.
    assert "5 rows: 3 to invite, 1 invalid, 1 duplicates dropped;" in result.output
    assert "line 4: too short" in result.output
    # The exact text the send jobs get, with its encoding and segments, before the question.
    sent_text = wave_invitation(redis, WAVE, "es")
    assert "Responda ENCUESTA" in sent_text
    preview = (
        f"Invitation in es, exactly as sent ({summary(describe(sent_text))}):\n  {sent_text}\n"
    )
    assert preview in result.output
    assert result.output.index(preview) < result.output.index("Queue these invitations?")
    assert "3 texts to wave 'summer-2026' at up to 2 per second" in result.output
    assert "Nothing was queued." in result.output
    assert get_queue(redis).count == 0
    for number in NUMBERS:
        for shape in formats(number):
            assert shape not in result.output

    result = runner.invoke(invite_command, [WAVE, str(upload), "--yes"])
    assert result.exit_code == 0, result.output
    assert "Queued 3 invitations." in result.output
    assert get_queue(redis).count == 3
    assert stats(redis) == {"queued": 3}


def test_cli_previews_the_wave_snapshot_not_the_edited_file(cli_env, db, redis, tmp_path):
    survey = finished_survey(tmp_path)
    source = survey.read_text(encoding="utf-8")
    assert "\nmessages:\n" in source

    def with_invitation(greeting: str) -> str:
        line = f'  invitation:\n    en: "{greeting}: {{org}} asks you. Reply SURVEY."\n'
        return source.replace("\nmessages:\n", "\nmessages:\n" + line, 1)

    survey.write_text(with_invitation("Dear member"), encoding="utf-8")
    with Session(get_engine(db)) as session:
        create_wave(session, name="frozen", survey_file=str(survey))
        open_wave(session, redis, "frozen", allow_placeholders=False)
    survey.write_text(with_invitation("EDITED"), encoding="utf-8")  # after it opened
    upload = tmp_path / "members.csv"
    upload.write_text("+13055550123\n", encoding="utf-8")
    result = CliRunner().invoke(invite_command, ["frozen", str(upload)], input="n\n")
    assert result.exit_code == 0, result.output
    text = f"Dear member: {REAL_RESOURCES['org']} asks you. Reply SURVEY."
    assert f"Invitation in en, exactly as sent (GSM-7, 1 segment ({len(text)} septets)):" in (
        result.output
    )
    assert f"\n  {text}\n" in result.output and "EDITED" not in result.output
    for shape in formats("+13055550123"):
        assert shape not in result.output


def test_cli_refuses_a_wave_that_is_not_open_and_an_empty_upload(cli_env, wave, tmp_path):
    upload = tmp_path / "members.csv"
    upload.write_text("phone\n12\n", encoding="utf-8")
    result = CliRunner().invoke(invite_command, ["winter", str(upload), "--yes"])
    assert result.exit_code == 1 and "no wave named 'winter'" in result.output
    result = CliRunner().invoke(invite_command, [WAVE, str(upload), "--yes"])
    assert result.exit_code == 1 and "nobody to invite" in result.output


# ------------------------------------------------------------------------------ privacy scan


@pytest.fixture
def invitations_done(app, client, db, wave, redis, twilio, caplog):
    """An upload in several formats, sent with every kind of outcome, then status callbacks.
    Returns the numbers, the SIDs Twilio gave, and Redis as it was before the jobs ran."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="surveybot")
    fake, settings = twilio
    upload = (
        "\ufeffNombre,Teléfono\r\n"
        "A,(305) 555-0123\r\n"  # sent, delivered
        "B,786.555.0188\r\n"  # 21610 at send
        "C,+1 954 555 0147\r\n"  # 21211: refused for good
        "D,202-555-0199\r\n"  # 500, then sent; undelivered
        "E,+509 3412 5678\r\n"  # temporary errors until out of retries
        "F,(305) 555-0160\r\n"  # sent; 21610 in its status callback
    ).encode()
    check = parse_invitation_csv(upload, default_region="US")
    numbers = check.valid
    assert len(numbers) == 6
    fake.fail_for.update(
        {numbers[1]: UNSUBSCRIBED, numbers[2]: INVALID_NUMBER, numbers[4]: SERVER_ERROR}
    )
    invite(app, redis, settings, numbers, language="ht")
    before = redis_dump(redis)
    fake.fail_next(None, None, None, SERVER_ERROR)  # the 4th request (number D) fails once
    run_all(redis, settings)
    to_of = {r["sid"]: r["form"]["To"] for r in fake.requests if r["sid"]}
    by_number = {to: sid for sid, to in to_of.items()}
    status_callback(client, app, by_number[numbers[0]], "delivered", numbers[0])
    status_callback(client, app, by_number[numbers[3]], "undelivered", numbers[3], "30003")
    status_callback(client, app, by_number[numbers[5]], "failed", numbers[5], "21610")
    run_all(redis, settings)  # the opt-out jobs the 21610s queued
    return numbers, fake.sids, before


def test_no_number_is_left_anywhere_once_invitations_are_done(
    app, db, redis, invitations_done, caplog
):
    numbers, sids, before = invitations_done
    assert len(sids) == 3
    # While the jobs are pending the numbers are in them sealed: the scan finds them there only
    # with the storage secret key (so it would see them later), never in clear.
    assert not any(n.encode() in value for n in numbers for _, value in before)
    secret = app.extensions["surveybot"].settings.storage_secret_key
    assert set(numbers) <= sealed_arguments(before, secret)

    after = redis_dump(redis)
    assert any(b"rq:" in key for key, _ in after), "the scan must see RQ's keys"
    assert_clean([k for k, _ in after] + [v for _, v in after], numbers, sids, "Redis")
    tables = database_dump(db)
    assert len(tables["opt_out"]) == 2
    for table, rows in tables.items():
        assert_clean([value for row in rows for value in row], numbers, sids, f"table {table}")
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)]
    assert any("invitation job" in r.getMessage() for r in records), "the scan must see logs"
    assert any(r.name.startswith("rq.") for r in records)
    # Whole records, extras included: RQ attaches a failing job's arguments to its log record.
    assert_clean([str(r.__dict__) for r in records], numbers, sids, "the logs")
    assert stats(redis) == {
        "queued": 6,
        "sent": 3,
        "delivered": 1,
        "undelivered": 1,
        "error:30003": 1,
        "opted_out": 2,
        "error:21610": 2,
        "failed": 2,
        "error:21211": 1,
        "error:temporary": 1,
        "processed": 6,
    }
    no_jobs_left(redis)


# ------------------------------------------------------------------------------------- bench


def test_the_benchmark_runs_quickly_without_duplicates_or_losses():
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "invitations.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if re.match(r"^\s*\d+(\.\d+)?/s ", line)]
    assert len(rows) == 3, result.stdout
    for row in rows:
        assert re.search(r"\bdup 0\b", row) and re.search(r"\blost 0\b", row), row


def test_a_service_error_quoting_the_number_is_counted_and_leaves_no_trace(
    app, wave, redis, twilio, monkeypatch, caplog
):
    from twilio.base.exceptions import TwilioServiceException

    _, settings = twilio
    caplog.set_level(logging.DEBUG)

    def sender(*args, **kwargs):
        def send(to, body):
            raise TwilioServiceException(
                "https://www.twilio.com/docs/errors/21211",
                "Invalid 'To' Phone Number",
                400,
                21211,
                detail=f"The 'To' number {to} is not a valid phone number.",
            )

        return send

    monkeypatch.setattr("bot.outreach.sending.twilio_sender", sender)
    invite(app, redis, settings, NUMBERS[:1])
    run_all(redis, settings)
    assert stats(redis)["failed"] == 1 and stats(redis)["error:21211"] == 1
    no_jobs_left(redis)
    digits = NUMBERS[0].lstrip("+")
    assert digits not in caplog.text
    assert not any(digits.encode() in value for _, value in redis_dump(redis))
