"""Benchmark of invitation sending: the rate the shared limiter achieves with several workers.

Run:  python bench/invitations.py            (or python -m bench.invitations; --quick: smoke run)
      python bench/invitations.py --spread   (10,000 invitations over windows and daily caps on
                                              a simulated clock: bench/invitations_spread.py)

What it does, in one run:
  1. starts a dedicated redis-server on a free port (no persistence), a SQLite database in a
     temporary folder (migrated) with one open wave, and a fake Twilio REST server on
     127.0.0.1 in this process (tests/fake_twilio.py) that records the arrival time
     (time.monotonic) and recipient of every message;
  2. for each rate (1, 10 and 100 messages per second by default): starts --workers
     `surveybot worker` processes (real forking RQ workers) with SEND_RATE_PER_SECOND at that
     rate and TWILIO_API_BASE_URL at the fake, waits until they are listening, queues that
     rate's invitations (made-up +1555010XXXX numbers) with `queue_invitations`, waits until
     every job has settled (bounded by a deadline), and stops the workers;
  3. prints for each rate: messages, duration (first to last arrival), achieved rate
     ((messages - 1) / duration), the most messages that arrived in any one-second window
     (sliding: a window starting at every arrival), duplicates (messages beyond the first to a
     number), losses (numbers queued that never arrived), and how many numbers are still in
     Redis afterwards (keys and values, RQ's job data decompressed); then whether the aims are
     met: achieved rate within 5% of the limit, never over it, no duplicates, no losses.

Exit status: 1 on duplicates, losses, numbers left in Redis or a run that did not finish;
with --strict also when an aim is missed. Everything it starts is stopped and its temporary
files removed on the way out.
"""

from __future__ import annotations

import argparse
import bisect
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.services import (  # noqa: E402
    HOST,
    MAX_NUMBERS,
    bench_number,
    cpu_of,
    environment_without_settings,
    loadavg,
    start_redis,
    stop_process,
    tail,
)

WAVE = "bench"
RATE_TOLERANCE = 0.05  # the aim: achieved rate within 5% of the limit
WORKER_START_TIMEOUT = 60.0
SETTLE_GRACE_SECONDS = 30.0
POLL_SECONDS = 0.1
DEFAULT_RATES = (1.0, 10.0, 100.0)
DEFAULT_MESSAGES = (20, 150, 1000)
QUICK_MESSAGES = (4, 20, 100)
# fork: `surveybot worker` (RQ's Worker, which forks a work horse per job), with the invitation
# job's module imported before it forks, so each horse inherits the Twilio client's modules.
# simple: the same settings and queue with RQ's SimpleWorker, which runs jobs in its own process.
WORKER_MAIN = {
    "fork": "import workers.invitations; from bot.cli import main; main(['worker'])",
    "simple": (
        "import workers.invitations\n"
        "from redis import Redis\n"
        "from rq import SimpleWorker\n"
        "from bot.infra.config import load_settings\n"
        "from workers import context\n"
        "from bot.infra.queues import get_queue\n"
        "settings = load_settings()\n"
        "context.configure(settings)\n"
        "connection = Redis.from_url(settings.REDIS_URL)\n"
        "SimpleWorker([get_queue(connection)], connection=connection).work(\n"
        "    with_scheduler=True, logging_level=settings.LOG_LEVEL)\n"
    ),
}


# ------------------------------------------------------------------------------- pure helpers


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most of `times` in any half-open window [t, t + window) (the busiest window starts
    at an arrival, so trying those is enough)."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0
    )


@dataclass
class RateResult:
    """What sending at one rate produced."""

    rate: float
    queued: int
    arrivals: list[tuple[float, str]]  # (monotonic time, recipient) as the fake saw them
    numbers: list[str]
    left_in_redis: int = 0
    worker_cpu: float = 0.0  # CPU seconds of the workers (and their work horses) in the run
    problems: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        """Messages the fake received."""
        return len(self.arrivals)

    @property
    def duration(self) -> float:
        """Seconds from the first arrival to the last."""
        times = [t for t, _ in self.arrivals]
        return max(times) - min(times) if len(times) > 1 else 0.0

    @property
    def achieved(self) -> float:
        """Messages per second between the first arrival and the last."""
        return (self.messages - 1) / self.duration if self.duration > 0 else 0.0

    @property
    def max_window(self) -> int:
        """The most messages in any one-second window."""
        return max_in_window([t for t, _ in self.arrivals])

    @property
    def duplicates(self) -> int:
        """Messages beyond the first to one number."""
        return sum(n - 1 for n in Counter(to for _, to in self.arrivals).values() if n > 1)

    @property
    def losses(self) -> int:
        """Numbers queued that never got a message."""
        return len(set(self.numbers) - {to for _, to in self.arrivals})

    @property
    def rate_ok(self) -> bool:
        """Achieved within the tolerance of the limit."""
        return abs(self.achieved - self.rate) <= RATE_TOLERANCE * self.rate

    @property
    def never_over(self) -> bool:
        """No one-second window held more than the limit."""
        return self.max_window <= self.rate

    @property
    def correct(self) -> bool:
        """No duplicates, no losses, nothing left behind, nothing went wrong."""
        return not (self.duplicates or self.losses or self.left_in_redis or self.problems)

    def row(self) -> str:
        """One line of the report."""
        aims = "met" if self.rate_ok and self.never_over and self.correct else "NOT met"
        return (
            f"{self.rate:>5g}/s  messages {self.messages:>4}  duration {self.duration:7.2f} s  "
            f"achieved {self.achieved:7.3f}/s ({100 * self.achieved / self.rate:5.1f}%)  "
            f"max in 1 s {self.max_window:>3}  dup {self.duplicates}  lost {self.losses}  "
            f"left in Redis {self.left_in_redis}  worker CPU {self.cpu_per_message:5.1f} ms/msg"
            f"  aims {aims}"
        )

    @property
    def cpu_per_message(self) -> float:
        """Worker CPU milliseconds per message."""
        return 1000 * self.worker_cpu / max(1, self.messages)


# ---------------------------------------------------------------------------------- services


def numbers_in_redis(redis, numbers: Sequence[str]) -> int:
    """How many of `numbers` appear in any Redis key or value (RQ job data decompressed)."""
    from tests.test_privacy import redis_dump

    wanted = [n.lstrip("+").encode() for n in numbers]
    blobs = [blob for pair in redis_dump(redis) for blob in pair]
    return sum(1 for n in wanted if any(n in blob for blob in blobs))


def worker_environment(redis_url: str, database_url: str, fake_url: str, rate: float, args):  # noqa: ANN001
    """A worker's environment: production settings aimed at the fake, nothing inherited."""
    env = environment_without_settings()
    env.update(
        SURVEYBOT_ENV="production",
        REDIS_URL=redis_url,
        DATABASE_URL=database_url,
        PUBLIC_BASE_URL="https://bench.surveybot.invalid",
        TWILIO_ACCOUNT_SID="AC" + "b" * 32,
        TWILIO_MESSAGING_SERVICE_SID="MG" + "b" * 32,
        TWILIO_API_BASE_URL=fake_url,
        SEND_RATE_PER_SECOND=f"{rate:g}",
        # The rate runs measure the limiter at any hour: no window, no cap (--spread measures
        # those on a simulated clock).
        SEND_WINDOW="0:00-24:00",
        SEND_DAILY_CAP="0",
        LOG_LEVEL=args.log_level,
        PYTHONPATH=str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        **args.secrets,
    )
    return env


def start_workers(count: int, env: dict[str, str], workdir: Path, label: str, kind: str):
    """`count` worker processes of `kind` (WORKER_MAIN), each logging to its own file."""
    processes = []
    for i in range(count):
        log = workdir / f"worker-{label}-{i}.log"
        with open(log, "ab") as out:
            processes.append(
                (
                    subprocess.Popen(
                        [sys.executable, "-c", WORKER_MAIN[kind]],
                        env=env,
                        cwd=workdir,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    ),
                    log,
                )
            )
    return processes


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU seconds used by these processes and their reaped children (a forking worker's work
    horses), from /proc (Linux; 0 elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_of(Path(f"/proc/{pid}/stat").read_text(), children=True)[1]
        except (OSError, IndexError, ValueError):
            continue
    return total


def wait_for_workers(redis, processes, count: int) -> None:
    """Until `count` RQ workers are registered (or one of ours died)."""
    from rq import Worker

    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while Worker.count(connection=redis) < count:
        for process, log in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited at start: {tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not start in time")
        time.sleep(POLL_SECONDS)


def run_rate(args, context, rate: float, messages: int, first: int) -> RateResult:  # noqa: ANN001
    """Send `messages` invitations at `rate` per second with fresh workers; measure."""
    from bot.infra.config import load_settings
    from bot.infra.queues import get_queue
    from bot.outreach.invitations import queue_invitations
    from bot.outreach.progress import invitation_progress
    from bot.outreach.ratelimit import RATE_LIMIT_KEY

    redis, fake, workdir = context["redis"], context["fake"], context["workdir"]
    env = worker_environment(context["redis_url"], context["database_url"], fake.url, rate, args)
    settings = load_settings({k: v for k, v in env.items() if k.isupper()}, env_file=None)
    numbers = [bench_number(first + i) for i in range(messages)]
    redis.delete(RATE_LIMIT_KEY)
    fake.clear()
    label = f"{rate:g}"
    processes = start_workers(args.workers, env, workdir, label, args.worker_class)
    context["workers"] = processes
    result = RateResult(rate=rate, queued=messages, arrivals=[], numbers=numbers)
    try:
        wait_for_workers(redis, processes, args.workers)
        pids = [p.pid for p, _ in processes]
        cpu_before = cpu_seconds(pids)
        before = invitation_progress(redis, WAVE)
        queue_invitations(
            settings, redis, get_queue(redis), wave=WAVE, numbers=numbers, language="en"
        )
        deadline = time.monotonic() + messages * 1.05 / rate + SETTLE_GRACE_SECONDS
        while True:  # bounded by the deadline
            progress = invitation_progress(redis, WAVE)
            if progress.pending == 0 and progress.queued - before.queued == messages:
                break
            if any(p.poll() is not None for p, _ in processes):
                result.problems.append("a worker died during the run")
                break
            if time.monotonic() > deadline:
                result.problems.append(f"{progress.pending} invitations still pending at the end")
                break
            time.sleep(POLL_SECONDS)
        result.worker_cpu = cpu_seconds(pids) - cpu_before
        sent = progress.sent - before.sent
        if sent != messages and not result.problems:
            result.problems.append(f"{messages} queued, {sent} counted as sent")
    finally:
        for process, _ in processes:
            stop_process(process)
        context["workers"] = []
    result.arrivals = [(r["time"], r["form"].get("To", "")) for r in list(fake.requests)]
    result.left_in_redis = numbers_in_redis(redis, numbers)
    if result.problems:
        for _, log in processes:
            print(f"worker log ({log.name}):\n{tail(log, 10)}")
    return result


def prepare_wave(database_url: str, redis) -> None:  # noqa: ANN001
    """Migrate the database, then create and open the benchmark's wave."""
    from bot.infra.db import session_scope
    from bot.infra.migrate import upgrade
    from bot.outreach.waves import create_wave, open_wave

    upgrade(database_url)
    with session_scope(database_url) as session:
        create_wave(session, name=WAVE, title="Benchmark wave")
    with session_scope(database_url) as session:
        # A benchmark runs the shipped questionnaire as it is, placeholders included.
        open_wave(session, redis, WAVE, allow_placeholders=True)


# -------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="RQ worker processes per rate")
    parser.add_argument(
        "--rates",
        default=",".join(f"{r:g}" for r in DEFAULT_RATES),
        help="comma-separated send rates (messages per second)",
    )
    parser.add_argument(
        "--messages",
        default=None,
        help="comma-separated messages per rate (default 20,150,1000; --quick 4,20,100)",
    )
    parser.add_argument(
        "--worker-class",
        choices=sorted(WORKER_MAIN),
        default="fork",
        help="fork: `surveybot worker` (a work horse forked per job); simple: RQ's SimpleWorker",
    )
    parser.add_argument("--log-level", default="WARNING", help="the workers' LOG_LEVEL")
    parser.add_argument("--quick", action="store_true", help="few messages (smoke test)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when an aim is missed")
    args = parser.parse_args(argv)
    try:
        args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
        default = QUICK_MESSAGES if args.quick else DEFAULT_MESSAGES
        args.messages = (
            [int(m) for m in args.messages.split(",") if m.strip()]
            if args.messages
            else list(default[: len(args.rates)])
        )
    except ValueError:
        parser.error("--rates and --messages are comma-separated numbers")
    if len(args.messages) != len(args.rates):
        parser.error("give one --messages count per rate")
    if args.workers < 1 or any(r <= 0 for r in args.rates) or any(m < 2 for m in args.messages):
        parser.error("workers and rates must be positive, and at least 2 messages per rate")
    if sum(args.messages) > MAX_NUMBERS:
        parser.error(f"at most {MAX_NUMBERS} messages in all")
    args.secrets = {
        name: secrets.token_hex(24) for name in ("SECRET_KEY", "PSEUDONYM_KEY", "TWILIO_AUTH_TOKEN")
    }
    from bot.infra.sealing import generate_storage_keys

    args.secrets["STORAGE_PUBLIC_KEY"], args.secrets["STORAGE_SECRET_KEY"] = generate_storage_keys()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--spread" in argv:  # windows and caps on a simulated clock: bench/invitations_spread.py
        from bench.invitations_spread import main as spread

        return spread(argv)
    args = parse_args(argv)
    from redis import Redis

    from tests.fake_twilio import FakeTwilio

    workdir = Path(tempfile.mkdtemp(prefix="surveybot-bench-invite-"))
    redis_process: subprocess.Popen | None = None
    redis: Redis | None = None
    context: dict = {"workers": []}
    try:
        redis_process, redis_url = start_redis(workdir)
        redis = Redis.from_url(redis_url)
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        prepare_wave(database_url, redis)
        with FakeTwilio() as fake:
            context.update(
                redis=redis,
                redis_url=redis_url,
                database_url=database_url,
                fake=fake,
                workdir=workdir,
            )
            print("surveybot invitations benchmark")
            print(
                f"  machine: {os.cpu_count()} CPUs ({platform.machine()}), Python "
                f"{platform.python_version()}, Redis "
                f"{redis.info('server').get('redis_version', '?')} (dedicated, {redis_url})"
            )
            kind = (
                "`surveybot worker` processes (RQ Worker: a work horse forked per job)"
                if args.worker_class == "fork"
                else "RQ SimpleWorker processes (jobs run in the worker process)"
            )
            print(
                f"  senders: {args.workers} {kind} per rate, fresh for each rate, "
                "sharing the Redis send-rate limiter"
            )
            print(
                f"  Twilio: a fake REST server on {HOST} in this process (the twilio client "
                "pointed at it), recording each message's arrival time"
            )
            print(f"  load average before: {loadavg()}")
            print()
            results: list[RateResult] = []
            first = 0
            for rate, messages in zip(args.rates, args.messages, strict=True):
                result = run_rate(args, context, rate, messages, first)
                first += messages
                print(result.row(), flush=True)
                for problem in result.problems:
                    print(f"         problem: {problem}")
                results.append(result)
            print()
            print(f"(load average after: {loadavg()})")
        correct = all(r.correct for r in results)
        aims = all(r.rate_ok and r.never_over for r in results)
        print(
            f"aims: achieved rate within {RATE_TOLERANCE:.0%} of the limit: "
            f"{'yes' if all(r.rate_ok for r in results) else 'NO'}; never over the limit in any "
            f"one-second window: {'yes' if all(r.never_over for r in results) else 'NO'}; "
            f"no duplicates: {'yes' if not any(r.duplicates for r in results) else 'NO'}; "
            f"no losses: {'yes' if not any(r.losses for r in results) else 'NO'}; "
            f"no number left in Redis: "
            f"{'yes' if not any(r.left_in_redis for r in results) else 'NO'}"
        )
        if not correct:
            print("FAIL: duplicates, losses, numbers left behind or an unfinished run")
            return 1
        if args.strict and not aims:
            print("FAIL: an aim was missed (--strict)")
            return 1
        print("check: OK")
        return 0
    except RuntimeError as exc:
        print(f"FAIL: {exc}")
        return 1
    finally:
        for process, _ in context.get("workers", []):
            stop_process(process)
        if redis is not None:
            redis.close()
        stop_process(redis_process)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
