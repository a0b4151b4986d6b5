"""Benchmark of outreach over days: 10,000 invitations spread over sending windows and daily caps
on a simulated clock.

Run:  python bench/invitations.py --spread  [--texts N] [--cap N] [--rate R] [--quick]

What it does, in one run:
  1. starts a dedicated redis-server on a free port (no persistence), a SQLite database in a
     temporary folder (migrated) with one open wave, and a fake Twilio REST server in this
     process (tests/fake_twilio.py) that stamps each message with the simulated time;
  2. queues --texts invitations (made-up numbers in the area codes of New York, Chicago, Los
     Angeles, Port-au-Prince and Mexico City) with `queue_invitations` at 01:00 New York time
     on a Monday, with SEND_DAILY_CAP=--cap and the default 9:00-20:00 window;
  3. runs the real send jobs in this process (RQ SimpleWorker, the real rate limiter, caps and
     scheduled jobs) on a simulated clock: each message Twilio receives moves the clock on by
     one send interval at --rate (as the limiter spaces them), and when no job is due the clock
     jumps to the earliest scheduled job, as RQ's scheduler would run it;
  4. prints how many were sent each day and each hour (New York time), the peak hour and day,
     texts outside their recipient's window, duplicates (messages beyond the first to a number),
     losses (numbers queued and never texted), and how many job runs it took.

Exit status: 1 on duplicates, losses, a text outside its window or a day over the cap.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.services import start_redis, stop_process  # noqa: E402
from bot.outreach.ratelimit import RATE_SAFETY_MARGIN  # noqa: E402

WAVE = "bench"
BOT_ZONE = "America/New_York"
START = dt.datetime(2026, 11, 16, 6, 0, tzinfo=dt.UTC)  # Monday 01:00 in New York
# (share of the list, number prefix, digits after it, zone): members of a coalition on the East
# Coast with family and members in other zones.
MIX = (
    (0.40, "+1305", 7, "America/New_York"),
    (0.20, "+1312", 7, "America/Chicago"),
    (0.20, "+1213", 7, "America/Los_Angeles"),
    (0.10, "+5093", 7, "America/Port-au-Prince"),
    (0.10, "+5255", 8, "America/Mexico_City"),
)
MAX_SIMULATED_DAYS = 30


def numbers_for(texts: int) -> list[tuple[str, str]]:
    """`texts` distinct made-up numbers with the zone their area code is in."""
    out = []
    for share, prefix, digits, zone in MIX:
        for i in range(round(texts * share)):
            out.append((f"{prefix}{2 * 10 ** (digits - 1) + i:0{digits}d}", zone))
    return out[:texts]


class SimClock:
    """The simulated time: read by the bot (bot.infra.clock) and the fake Twilio."""

    def __init__(self, start: dt.datetime, interval: float) -> None:
        self.moment = start
        self.interval = dt.timedelta(seconds=interval)

    def now(self) -> dt.datetime:
        return self.moment

    def on_message(self) -> dt.datetime:
        """A message arrives now; the next slot is one interval later."""
        arrived = self.moment
        self.moment += self.interval
        return arrived


def run(args: argparse.Namespace) -> int:  # noqa: PLR0915 - one linear report
    from redis import Redis
    from rq.registry import ScheduledJobRegistry

    from bot.infra import clock as bot_clock
    from bot.infra.config import load_settings
    from bot.infra.db import session_scope
    from bot.infra.migrate import upgrade
    from bot.infra.queues import get_queue
    from bot.infra.sealing import generate_storage_keys
    from bot.outreach.invitations import queue_invitations
    from bot.outreach.progress import invitation_progress
    from bot.outreach.waves import create_wave, open_wave
    from bot.outreach.windows import parse_window
    from tests.fake_twilio import FakeTwilio
    from workers import context
    from workers.worker import ProjectSimpleWorker

    workdir = Path(tempfile.mkdtemp(prefix="surveybot-bench-spread-"))
    redis_process: subprocess.Popen | None = None
    try:
        redis_process, redis_url = start_redis(workdir)
        redis = Redis.from_url(redis_url)
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        upgrade(database_url)
        with session_scope(database_url) as session:
            create_wave(session, name=WAVE, title="Benchmark wave")
        with session_scope(database_url) as session:
            open_wave(session, redis, WAVE, allow_placeholders=True)
        sim = SimClock(START, (1 + RATE_SAFETY_MARGIN) / args.rate)
        bot_clock.now = sim.now
        bot_clock.today = lambda: sim.now().astimezone(ZoneInfo(BOT_ZONE)).date()
        public, secret = generate_storage_keys()
        with FakeTwilio(clock=sim.on_message) as fake:
            settings = load_settings(
                {
                    "SURVEYBOT_ENV": "test",
                    "REDIS_URL": redis_url,
                    "DATABASE_URL": database_url,
                    "PUBLIC_BASE_URL": "https://bench.surveybot.invalid",
                    "TWILIO_ACCOUNT_SID": "AC" + "b" * 32,
                    "TWILIO_MESSAGING_SERVICE_SID": "MG" + "b" * 32,
                    "TWILIO_API_BASE_URL": fake.url,
                    # The real limiter, fast in real time: the simulated clock spaces messages.
                    "SEND_RATE_PER_SECOND": "100000",
                    "SEND_DAILY_CAP": str(args.cap),
                    "REPORT_TIMEZONE": BOT_ZONE,
                    "STORAGE_PUBLIC_KEY": public,
                    "STORAGE_SECRET_KEY": secret,
                    **{
                        n: secrets.token_hex(24)
                        for n in ("SECRET_KEY", "PSEUDONYM_KEY", "TWILIO_AUTH_TOKEN")
                    },
                },
                env_file=None,
                dev_instance=False,
            )
            context.configure(settings)
            listed = numbers_for(args.texts)
            zone_of = dict(listed)
            queue = get_queue(redis)
            queued = queue_invitations(
                settings, redis, queue, wave=WAVE, numbers=[n for n, _ in listed], language="en"
            )
            registry = ScheduledJobRegistry(queue=queue)
            runs = 0
            started = time.monotonic()
            end = START + dt.timedelta(days=MAX_SIMULATED_DAYS)
            while True:
                before = queue.count
                ProjectSimpleWorker([queue], connection=redis).work(
                    burst=True, with_scheduler=False, logging_level="WARNING"
                )
                runs += before
                first = redis.zrange(registry.key, 0, 0, withscores=True)
                if not first:
                    break
                due = dt.datetime.fromtimestamp(first[0][1], dt.UTC)
                if due > end:
                    break
                sim.moment = max(sim.moment, due)
                for job_id, _ in redis.zrangebyscore(
                    registry.key, 0, sim.moment.timestamp(), withscores=True
                ):
                    job = queue.fetch_job(job_id.decode())
                    registry.remove(job_id.decode())
                    if job is not None:
                        queue.enqueue_job(job)
            elapsed = time.monotonic() - started
            sends = [(r["form"]["To"], r["time"]) for r in fake.requests if r["method"] == "POST"]
        progress = invitation_progress(redis, WAVE)
        return report(
            args,
            queued,
            zone_of,
            sends,
            progress,
            runs,
            elapsed,
            parse_window(settings.SEND_WINDOW),
        )
    finally:
        stop_process(redis_process)
        shutil.rmtree(workdir, ignore_errors=True)


def report(args, queued, zone_of, sends, progress, runs, elapsed, window) -> int:  # noqa: ANN001
    bot = ZoneInfo(BOT_ZONE)
    per_day = Counter(t.astimezone(bot).date() for _, t in sends)
    per_hour = Counter(
        t.astimezone(bot).replace(minute=0, second=0, microsecond=0) for _, t in sends
    )
    outside = sum(1 for n, t in sends if not window.contains(t.astimezone(ZoneInfo(zone_of[n]))))
    per_number = Counter(n for n, _ in sends)
    duplicates = sum(c - 1 for c in per_number.values())
    losses = sum(1 for n in zone_of if n not in per_number)
    print("surveybot outreach spread benchmark (simulated clock)")
    print(
        f"  {queued} invitations queued {START.astimezone(bot):%a %Y-%m-%d %H:%M} New York time; "
        f"window {window} in each recipient's zone; SEND_DAILY_CAP={args.cap}; "
        f"{args.rate:g} texts/s (each message moves the clock on by one send interval)"
    )
    print("  list: " + ", ".join(f"{share:.0%} {zone}" for share, _, _, zone in MIX))
    print()
    print("per day (New York date):")
    for day in sorted(per_day):
        print(f"  {day:%a %Y-%m-%d}  {per_day[day]:6d}")
    print("per hour (New York time, hours with texts):")
    for hour in sorted(per_hour):
        print(f"  {hour:%a %m-%d %H:00}  {per_hour[hour]:6d}")
    peak_hour = max(per_hour.items(), key=lambda kv: kv[1]) if per_hour else (None, 0)
    peak_day = max(per_day.items(), key=lambda kv: kv[1]) if per_day else (None, 0)
    print()
    print(f"sent {len(sends)} of {queued} over {len(per_day)} days")
    if peak_hour[0] is not None:
        print(
            f"peak hour: {peak_hour[1]} ({peak_hour[0]:%a %m-%d %H:00}); "
            f"peak day: {peak_day[1]} ({peak_day[0]:%a %m-%d}), cap {args.cap}"
        )
    print(f"outside the recipient's window: {outside}; duplicates: {duplicates}; losses: {losses}")
    print(
        f"counters: queued {progress.queued}, sent {progress.sent}, waiting {progress.waiting}, "
        f"pending {progress.pending}, failed {progress.failed}"
    )
    print(
        f"job runs: {runs} for {queued} invitations ({runs / max(1, queued):.2f} per invitation); "
        f"{elapsed:.1f} s of real time"
    )
    over_cap = args.cap and peak_day[1] > args.cap
    if duplicates or losses or outside or over_cap:
        print("FAIL: duplicates, losses, a text outside its window or a day over the cap")
        return 1
    print("check: OK")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spread", action="store_true", help="(this run)")
    parser.add_argument("--texts", type=int, default=10_000, help="invitations to spread")
    parser.add_argument("--cap", type=int, default=2000, help="SEND_DAILY_CAP")
    parser.add_argument("--rate", type=float, default=1.0, help="texts per second (simulated)")
    parser.add_argument("--quick", action="store_true", help="500 texts, cap 120 (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.texts, args.cap = 500, 120
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
