"""Outreach over days: sending windows in each recipient's local time, daily caps, reminders,
and a worker dying mid-send.

Everything runs on the fixed calendar (the `clock` fixture): a send job that may not send now
schedules a copy of itself in RQ's scheduled registry, and `run_simulated` moves the calendar to
the earliest scheduled time and runs what is due, as RQ's scheduler would at that time. Twilio
is faked at its HTTP boundary and stamps each request with the simulated time.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from rq.registry import ScheduledJobRegistry
from sqlmodel import Session

from bot.infra import keys
from bot.infra.db import get_engine
from bot.infra.privacy import pseudonym
from bot.infra.queues import get_queue
from bot.outreach import pacing
from bot.outreach.invitations import queue_invitations
from bot.outreach.progress import invitation_progress
from bot.outreach.reminders import queue_reminders, wave_reminder
from bot.outreach.wave_settings import set_outreach
from bot.outreach.windows import parse_window, zones_for_number
from tests.fake_twilio import FakeTwilio
from tests.utils import open_test_wave, sms_status, text
from workers import context
from workers.worker import ProjectSimpleWorker as SimpleWorker

WAVE = "summer-2026"
ACCOUNT = "AC" + "1" * 32
SERVICE = "MG" + "2" * 32
UTC = dt.UTC
# One number in each zone the coalition's members live in (area codes of each city).
ZONED = {
    "+13055550123": "America/New_York",  # Miami
    "+13125550123": "America/Chicago",
    "+12135550123": "America/Los_Angeles",
    "+50934125678": "America/Port-au-Prince",
    "+525512345678": "America/Mexico_City",
}


@pytest.fixture
def wave(app, db, redis):
    open_test_wave(db, redis, WAVE)
    return WAVE


@pytest.fixture
def twilio(app, clock):
    """A fake Twilio stamping requests with the simulated time, and settings sending to it."""
    with FakeTwilio(clock=lambda: clock.moment) as fake:
        settings = replace(
            app.extensions["surveybot"].settings,
            TWILIO_ACCOUNT_SID=ACCOUNT,
            TWILIO_MESSAGING_SERVICE_SID=SERVICE,
            TWILIO_API_BASE_URL=fake.url,
            SEND_RATE_PER_SECOND=1000.0,
        )
        context.configure(settings)
        yield fake, settings


def configure(twilio, **changes):
    fake, settings = twilio
    settings = replace(settings, **changes)
    context.configure(settings)
    return fake, settings


def run_simulated(redis, settings, clock, until: dt.datetime) -> None:
    """Run queued jobs; then move the calendar to the earliest scheduled job and run what is
    due then, until nothing is scheduled before `until`."""
    context.configure(settings)
    queue = get_queue(redis)
    registry = ScheduledJobRegistry(queue=queue)
    for _ in range(500):
        SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)
        first = redis.zrange(registry.key, 0, 0, withscores=True)
        if not first:
            return
        moment = dt.datetime.fromtimestamp(first[0][1], UTC)
        if moment > until:
            return
        clock.set(max(moment, clock.moment))
        for job_id, _ in redis.zrangebyscore(registry.key, 0, first[0][1], withscores=True):
            job = queue.fetch_job(job_id.decode())
            registry.remove(job_id.decode())
            if job is not None:
                queue.enqueue_job(job)
    pytest.fail("the jobs kept rescheduling themselves")


def scheduled_times(redis) -> list[dt.datetime]:
    registry = ScheduledJobRegistry(queue=get_queue(redis))
    return sorted(
        dt.datetime.fromtimestamp(score, UTC)
        for _, score in redis.zrange(registry.key, 0, -1, withscores=True)
    )


def invite(redis, settings, numbers, language="en") -> int:
    return queue_invitations(
        settings, redis, get_queue(redis), wave=WAVE, numbers=list(numbers), language=language
    )


def remind(redis, settings, numbers) -> int:
    return queue_reminders(
        settings, redis, get_queue(redis), wave=WAVE, numbers=list(numbers), language="en"
    )


def sent_at(fake) -> dict[str, list[dt.datetime]]:
    out: dict[str, list[dt.datetime]] = {}
    for request in fake.requests:
        out.setdefault(request["form"]["To"], []).append(request["time"])
    return out


def assert_inside_window(fake, window: str = "9:00-20:00") -> None:
    parsed = parse_window(window)
    for number, times in sent_at(fake).items():
        zone = ZoneInfo(ZONED[number])
        for moment in times:
            assert parsed.contains(moment.astimezone(zone)), (ZONED[number], moment)


# -------------------------------------------------------------------------------- windows


def test_the_zones_come_from_the_number():
    for number, zone in ZONED.items():
        assert zones_for_number(number, fallback="UTC") == (zone,)
    assert zones_for_number("+15555550123", fallback="America/New_York") == ("America/New_York",)


def test_several_zones_get_the_window_inside_all_of_them():
    from bot.outreach.windows import next_send_time

    zones = ("America/New_York", "America/Los_Angeles")
    window = parse_window("9:00-20:00")
    early = dt.datetime(2026, 11, 18, 13, 0, tzinfo=UTC)  # 8:00 in New York, 5:00 in LA
    assert next_send_time(early, zones, window, fallback="UTC") == dt.datetime(
        2026, 11, 18, 17, 0, tzinfo=UTC
    )  # 9:00 in LA, 12:00 in New York
    late = dt.datetime(2026, 11, 19, 1, 30, tzinfo=UTC)  # 20:30 in New York, 17:30 in LA
    assert next_send_time(late, zones, window, fallback="UTC") == dt.datetime(
        2026, 11, 19, 17, 0, tzinfo=UTC
    )
    inside = dt.datetime(2026, 11, 18, 20, 0, tzinfo=UTC)
    assert next_send_time(inside, zones, window, fallback="UTC") == inside


@pytest.mark.parametrize("bad", ["", "9", "20:00-9:00", "9:00-9:30", "25:00-26:00", "9:75-20"])
def test_a_window_that_is_not_one_is_refused(bad):
    from bot.outreach.windows import WindowError

    with pytest.raises(WindowError):
        parse_window(bad)


def test_early_morning_invitations_wait_for_each_zones_nine_oclock(app, wave, redis, twilio, clock):
    fake, settings = twilio
    clock.set(dt.datetime(2026, 11, 18, 12, 0, tzinfo=UTC))  # 7:00 New York, 4:00 LA
    assert invite(redis, settings, ZONED) == 5
    run_simulated(redis, settings, clock, until=clock.moment)  # only what is due now
    assert fake.requests == []
    assert invitation_progress(redis, WAVE).waiting == 5
    # Each waits, as a scheduled job, for 9:00 in its own zone (Haiti keeps New York's time in
    # November; Mexico City has no daylight saving time since 2022).
    assert scheduled_times(redis) == [
        dt.datetime(2026, 11, 18, 14, 0, tzinfo=UTC),  # New York
        dt.datetime(2026, 11, 18, 14, 0, tzinfo=UTC),  # Port-au-Prince
        dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC),  # Chicago
        dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC),  # Mexico City
        dt.datetime(2026, 11, 18, 17, 0, tzinfo=UTC),  # Los Angeles
    ]
    run_simulated(redis, settings, clock, until=dt.datetime(2026, 11, 20, tzinfo=UTC))
    assert sorted(sent_at(fake)) == sorted(ZONED)
    assert all(len(times) == 1 for times in sent_at(fake).values())
    assert_inside_window(fake)
    progress = invitation_progress(redis, WAVE)
    assert (progress.sent, progress.waiting, progress.pending) == (5, 0, 0)


def test_evening_invitations_go_where_it_is_still_day(app, wave, redis, twilio, clock):
    fake, settings = twilio
    clock.set(dt.datetime(2026, 11, 19, 1, 30, tzinfo=UTC))  # 20:30 New York, 19:30 Chicago
    invite(redis, settings, ZONED)
    run_simulated(redis, settings, clock, until=clock.moment)
    now_sent = set(sent_at(fake))
    assert now_sent == {"+13125550123", "+12135550123", "+525512345678"}
    run_simulated(redis, settings, clock, until=dt.datetime(2026, 11, 21, tzinfo=UTC))
    assert sent_at(fake)["+13055550123"] == [dt.datetime(2026, 11, 19, 14, 0, tzinfo=UTC)]
    assert sent_at(fake)["+50934125678"] == [dt.datetime(2026, 11, 19, 14, 0, tzinfo=UTC)]
    assert_inside_window(fake)


def test_a_waves_own_window_is_kept(app, db, wave, redis, twilio, clock):
    fake, settings = twilio
    with Session(get_engine(db)) as session:
        set_outreach(session, redis, WAVE, window="10:30-18:00")
    clock.set(dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC))  # 10:00 New York, 9:00 Chicago
    invite(redis, settings, ["+13055550123", "+13125550123"])
    run_simulated(redis, settings, clock, until=dt.datetime(2026, 11, 20, tzinfo=UTC))
    assert sent_at(fake) == {
        "+13055550123": [dt.datetime(2026, 11, 18, 15, 30, tzinfo=UTC)],
        "+13125550123": [dt.datetime(2026, 11, 18, 16, 30, tzinfo=UTC)],
    }
    assert_inside_window(fake, "10:30-18:00")


# ----------------------------------------------------------------------------------- caps


def miami(i: int) -> str:
    return f"+1305555{i:04d}"


def test_the_senders_daily_cap_spreads_a_list_over_days(app, wave, redis, twilio, clock):
    fake, settings = configure(twilio, SEND_DAILY_CAP=3)
    numbers = [miami(100 + i) for i in range(8)]
    for n in numbers:
        ZONED.setdefault(n, "America/New_York")
    clock.set(dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC))  # 10:00 New York
    invite(redis, settings, numbers)
    run_simulated(redis, settings, clock, until=clock.moment)
    assert len(fake.requests) == 3
    # The other five booked their days at once: three tomorrow, two the day after, each at
    # 9:00 New York time.
    nine = dt.datetime(2026, 11, 19, 14, 0, tzinfo=UTC)
    assert scheduled_times(redis) == [nine] * 3 + [nine + dt.timedelta(days=1)] * 2
    assert invitation_progress(redis, WAVE).waiting == 5
    run_simulated(redis, settings, clock, until=dt.datetime(2026, 11, 25, tzinfo=UTC))
    per_day = Counter(
        r["time"].astimezone(ZoneInfo("America/New_York")).date() for r in fake.requests
    )
    assert sorted(per_day.values(), reverse=True) == [3, 3, 2]
    assert max(per_day.values()) <= 3
    assert sorted(sent_at(fake)) == sorted(numbers) and len(fake.requests) == 8
    assert_inside_window(fake)
    progress = invitation_progress(redis, WAVE)
    assert (progress.sent, progress.waiting, progress.pending) == (8, 0, 0)


def test_a_waves_cap_and_the_senders_cap_both_hold(app, db, wave, redis, twilio, clock):
    fake, settings = configure(twilio, SEND_DAILY_CAP=3)
    with Session(get_engine(db)) as session:
        set_outreach(session, redis, WAVE, daily_cap=2)
    numbers = [miami(200 + i) for i in range(5)]
    for n in numbers:
        ZONED.setdefault(n, "America/New_York")
    today = pacing.day_of(dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC), settings)
    redis.set(f"{keys.CAP_SENDER_PREFIX}{today}", 2)  # another wave sent 2 today
    clock.set(dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    invite(redis, settings, numbers)
    run_simulated(redis, settings, clock, until=dt.datetime(2026, 11, 25, tzinfo=UTC))
    per_day = Counter(r["time"].date() for r in fake.requests)
    assert [per_day[dt.date(2026, 11, 18 + d)] for d in range(4)] == [1, 2, 2, 0]
    assert pacing.counted(redis, day=today, wave=WAVE) == (3, 1)


def test_the_estimate_counts_days_from_the_caps_and_the_rate(app):
    settings = replace(app.extensions["surveybot"].settings, SEND_DAILY_CAP=2000)
    outreach = pacing.wave_outreach(settings, None)
    plan = pacing.estimate(10_000, rate=1.0, outreach=outreach)
    assert (plan.per_day, plan.days, plan.limit) == (2000, 5, "the sender's daily cap")
    slow = pacing.estimate(10_000, rate=0.05, outreach=outreach)  # 1,922 a day by the rate
    assert slow.limit == "the sending rate" and slow.days == 6
    assert pacing.estimate(2500, rate=1.0, outreach=outreach, used_today=(1500, 0)).days == 2
    assert pacing.estimate(1, rate=1.0, outreach=outreach, used_today=(2000, 0)).days == 1


# ------------------------------------------------------------------------------ reminders


def test_reminders_skip_answered_and_opted_out_people_and_keep_to_the_maximum(
    app, client, db, wave, redis, twilio, clock
):
    fake, settings = twilio
    clock.set(dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    answered, stopper, due, due2, never = (miami(300 + i) for i in range(5))
    invite(redis, settings, [answered, stopper, due, due2])
    run_simulated(redis, settings, clock, until=clock.moment)
    assert len(fake.requests) == 4
    redis.set(keys.completed_waves(pseudonym(settings.PSEUDONYM_KEY, answered)), f"other,{WAVE}")
    text(client, stopper, "STOP")
    everyone = [answered, stopper, due, due2, never]

    def remind_on(day: int) -> list[str]:
        fake.clear()
        clock.set(dt.datetime(2026, 11, 18 + day, 15, 0, tzinfo=UTC))
        remind(redis, settings, everyone)
        run_simulated(redis, settings, clock, until=clock.moment)
        return sorted(r["form"]["To"] for r in fake.requests)

    assert remind_on(1) == []  # too soon: the wave waits 3 days by default
    assert remind_on(3) == sorted([due, due2])
    assert {r["form"]["Body"] for r in fake.requests} == {wave_reminder(redis, WAVE, "en")}
    # Twilio's status callback for a reminder counts in the wave's reminder figures.
    sms_status(client, fake.requests[0]["sid"], "delivered", to=fake.requests[0]["form"]["To"])
    assert invitation_progress(redis, WAVE, "reminder").delivered == 1
    assert invitation_progress(redis, WAVE).delivered == 0
    assert remind_on(3) == []  # one reminder by default
    assert remind_on(6) == []
    with Session(get_engine(db)) as session:
        set_outreach(session, redis, WAVE, max_reminders=2, remind_after_days=2)
    assert remind_on(4) == []  # two days after the last text
    assert remind_on(5) == sorted([due, due2])
    assert remind_on(9) == []  # the maximum
    progress = invitation_progress(redis, WAVE, "reminder")
    assert progress.queued == 7 * 5 and progress.sent == 4 and progress.pending == 0
    assert progress.skipped == 7 * 5 - 4


def test_reminders_wait_for_the_window_too(app, wave, redis, twilio, clock):
    fake, settings = twilio
    clock.set(dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC))
    invite(redis, settings, ["+12135550123"])  # Los Angeles: 7:00 there, waits for 9:00
    run_simulated(redis, settings, clock, until=dt.datetime(2026, 11, 19, tzinfo=UTC))
    fake.clear()
    clock.set(dt.datetime(2026, 11, 21, 23, 30, tzinfo=UTC))  # 15:30 in LA, 3 days later
    remind(redis, settings, ["+12135550123"])
    clock.set(dt.datetime(2026, 11, 22, 5, 0, tzinfo=UTC))  # 21:00 in LA when the job runs
    run_simulated(redis, settings, clock, until=dt.datetime(2026, 11, 24, tzinfo=UTC))
    assert [r["time"] for r in fake.requests] == [dt.datetime(2026, 11, 22, 17, 0, tzinfo=UTC)]


# ------------------------------------------------------------------------ restart mid-send


def test_a_send_cut_off_after_twilios_call_is_not_sent_again_when_rq_reruns_it(
    app, wave, redis, twilio, clock, monkeypatch
):
    """The job is cut off between Twilio's answer and its own bookkeeping (as when its worker
    dies there); RQ runs the same job again (a retry, or an abandoned job's retry after a
    restart). The claim was marked "sending" before the call, so the rerun does not text."""
    fake, settings = twilio
    import bot.outreach.sending as sending

    record = sending._record_sent
    calls = []

    def cut_off_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the 2nd text: Twilio accepted it, then the job was cut off
            raise SystemExit("worker killed")
        return record(*args, **kwargs)

    monkeypatch.setattr(sending, "_record_sent", cut_off_once)
    numbers = [miami(400 + i) for i in range(4)]
    invite(redis, settings, numbers)
    queue = get_queue(redis)
    SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)
    assert len(fake.requests) == 4
    assert len(ScheduledJobRegistry(queue=queue).get_job_ids()) == 1  # RQ will run it again
    monkeypatch.setattr(sending, "_record_sent", record)
    from tests.utils import run_queued

    run_queued(redis, settings)
    assert sorted(r["form"]["To"] for r in fake.requests) == sorted(numbers)  # once each
    progress = invitation_progress(redis, WAVE)
    assert (progress.sent, progress.failed, progress.pending) == (3, 1, 0)
    assert int(redis.hget(keys.invite_stats(WAVE), "interrupted")) == 1
    # Still marked invited: a second upload does not text them again either.
    invite(redis, settings, numbers)
    run_queued(redis, settings)
    assert len(fake.requests) == 4
