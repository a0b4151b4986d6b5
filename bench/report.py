"""Benchmark of the aggregate report on PostgreSQL, next to one hand-written GROUP BY.

Run:  python bench/report.py            (or python -m bench.report; --quick for a smoke run)

What it does, in one run:
  1. creates its own database (``surveybot_bench`` on the --database-url server; dropped first if
     it exists, dropped again at the end unless --keep), builds the schema with the real
     migrations, and starts a dedicated, non-persistent redis-server (the refresh job takes a
     Redis lock);
  2. grows the stored data in steps (10,000, then 100,000, then 1,000,000 responses by default;
     each step adds rows, nothing is regenerated): synthetic respondents answer the real
     questionnaire following its skip logic (random language, a day in one of a few ISO weeks,
     about 6-7 answer rows each, one row per chosen option of the multi question), loaded with
     COPY, then VACUUM (ANALYZE) so that both sides run on fresh statistics and hint bits;
  3. at each size measures, in the same run and taking turns:
       - GROUP BY:  one hand-written ``GROUP BY question, option`` over the wave's answers,
         fetched fully (the baseline);
       - refresh:   ``bot.releases.aggregates.refresh_wave``, the job that turns the raw rows into
         aggregate profiles (one SQL pass) and replaces the stored ones;
       - build:     loading the stored profiles, summing them into the report in Python
         (``bot.releases.report.build_raw_report``) and small-cell suppression
         (``bot.releases.report.publish``);
       - refresh + build: the two added up, round by round (what a fresh report costs);
     every measurement runs in a fresh child process, so the peak RSS printed belongs to that
     step alone; one untimed warm-up round per size fills the caches and measures the Python
     allocation peak with tracemalloc (tracing slows Python down, so timed rounds run untraced);
  4. prints best and median seconds, peak memory and the ratio to the GROUP BY, then whether the
     aims hold at 1,000,000 responses: refresh + build within 3x the GROUP BY, under 500 MB;
  5. checks the report is right: ``completed`` equals the number of responses, and every
     question's counts equal the GROUP BY's counts.

PostgreSQL's own memory is not in the peak RSS figures (they are the Python process's); the
temporary files each query spilled to disk are printed from EXPLAIN (ANALYZE, BUFFERS).
Everything it starts or creates is stopped or dropped on the way out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import multiprocessing
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `bot` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.services import (  # noqa: E402
    STOP_TIMEOUT,
    start_redis,
    stop_process,
)
from bot.infra.defaults import SMALL_CELL_MIN  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_BENCH_DATABASE = "surveybot_bench"
BENCH_DATABASE_PATTERN = re.compile(r"^surveybot_bench[a-z0-9_]*$")
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 5_000)
AIM_SIZE = 1_000_000
AIM_RATIO = 3.0  # refresh + build within 3x the GROUP BY
AIM_RSS_MB = 500.0  # and under 500 MB
WAVE = "bench-wave"
FIRST_DAY = dt.date(2026, 11, 2)  # a Monday: ISO week 2026-W45
WEEKS = 4
SKIP_RATE = 0.1
LANGUAGE_WEIGHTS = {"en": 3, "es": 5, "ht": 2}
BATCH = 20_000  # responses generated and copied at a time


CHILD_TIMEOUT = 3600.0

BASELINE = "GROUP BY (baseline)"
REFRESH = "refresh (aggregate from raw rows)"
BUILD = "build (from aggregates)"
TOTAL = "refresh + build"
STEPS = (BASELINE, REFRESH, BUILD)

# The baseline: one hand-written GROUP BY over the same rows the report counts.
BASELINE_SQL = (
    "SELECT a.question_id, a.option_id, count(*) FROM answer a"
    " JOIN response r ON r.id = a.response_id"
    " WHERE r.wave = %s AND NOT a.skipped"
    " GROUP BY a.question_id, a.option_id"
)
RESPONSE_COPY = (
    "COPY response (id, survey, survey_version, wave, language, completed_on, completed_week,"
    " choices_key, multi_key, record_key) FROM STDIN"
)
ANSWER_COPY = "COPY answer (id, response_id, question_id, option_id, number, skipped) FROM STDIN"

ResponseRow = tuple[uuid.UUID, str, str, str, str, dt.date, str, str, str]
AnswerRow = tuple[uuid.UUID, str, str | None, int | None, bool]


# ------------------------------------------------------------------------------- pure helpers


def parse_sizes(text: str) -> list[int]:
    """Parse "10000,100000" into [10000, 100000]: positive, increasing (the data only grows)."""
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes:
        raise ValueError("no sizes given")
    if sizes[0] <= 0 or any(b <= a for a, b in zip(sizes, sizes[1:], strict=False)):
        raise ValueError(f"sizes must be positive and increasing: {text!r}")
    return sizes


def check_bench_database(name: str) -> str:
    """The benchmark's own database name; anything else is refused (it gets dropped)."""
    if not BENCH_DATABASE_PATTERN.match(name):
        raise ValueError(
            f"{name!r}: the benchmark database must be named surveybot_bench[_suffix] "
            "(lowercase letters, digits, underscores), because the benchmark drops it"
        )
    return name


def is_postgres_url(url: str | None) -> bool:
    """Whether a database URL names a PostgreSQL server."""
    if not url:
        return False
    scheme = urllib.parse.urlsplit(url).scheme
    return scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")


def libpq_url(url: str) -> str:
    """The URL as libpq (psycopg.connect) reads it: no SQLAlchemy driver suffix."""
    parts = urllib.parse.urlsplit(url)
    return parts._replace(scheme="postgresql").geturl()


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urllib.parse.urlsplit(libpq_url(url))
    return parts._replace(path="/" + name).geturl()


def bench_days(first: dt.date = FIRST_DAY, weeks: int = WEEKS) -> list[dt.date]:
    """Every day of `weeks` ISO weeks from `first`."""
    return [first + dt.timedelta(days=i) for i in range(7 * weeks)]


def random_answers(q: Any, rng: random.Random, skip_rate: float = SKIP_RATE) -> dict[str, Any]:
    """Plausible answers to questionnaire `q`, in file order, following its skip logic.

    A skipped question is None (only if skippable), a multi question a sorted list of one or
    more option ids, a number question an int, a choice question one option id. A question
    whose `when` does not hold is absent, as the conversation engine never asks it.
    """
    from bot.core.engine import applies
    from bot.core.questionnaire import QuestionType

    answers: dict[str, Any] = {}
    for question in q.questions:
        if not applies(question, answers):
            continue
        if question.skippable and rng.random() < skip_rate:
            answers[question.id] = None
        elif question.type is QuestionType.MULTI:
            ids = [o.id for o in question.options]
            answers[question.id] = sorted(rng.sample(ids, rng.randint(1, len(ids))))
        elif question.type is QuestionType.NUMBER:
            low = question.minimum if question.minimum is not None else 0
            high = question.maximum if question.maximum is not None else low + 99
            answers[question.id] = rng.randint(low, high)
        else:
            answers[question.id] = rng.choice(question.options).id
    return answers


def answer_rows(response_id: uuid.UUID, answers: dict[str, Any]) -> list[AnswerRow]:
    """The answer table's rows for one response, as bot.records.responses.answer_rows does."""
    rows: list[AnswerRow] = []
    for question_id, value in answers.items():
        if value is None:
            rows.append((response_id, question_id, None, None, True))
        elif isinstance(value, list):
            rows.extend((response_id, question_id, str(v), None, False) for v in value)
        elif isinstance(value, bool) or not isinstance(value, int):
            rows.append((response_id, question_id, str(value), None, False))
        else:
            rows.append((response_id, question_id, None, value, False))
    return rows


def generate_batch(
    q: Any,
    rng: random.Random,
    count: int,
    *,
    wave: str = WAVE,
    days: Sequence[dt.date] | None = None,
) -> tuple[list[ResponseRow], list[AnswerRow]]:
    """`count` synthetic responses of one wave and their answer rows, ready for COPY."""
    from bot.infra.weeks import iso_week
    from bot.releases.profile_keys import choices_key, multi_key

    days = list(days or bench_days())
    week_of = {day: iso_week(day) for day in days}
    languages = list(q.languages)
    weights = [LANGUAGE_WEIGHTS.get(language, 1) for language in languages]
    responses: list[ResponseRow] = []
    answers: list[AnswerRow] = []
    for _ in range(count):
        response_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        language = rng.choices(languages, weights)[0]
        day = rng.choice(days)
        given = random_answers(q, rng)
        # The same row store_response writes: the answers, and their keys on the response.
        responses.append(
            (
                response_id,
                q.id,
                q.version,
                wave,
                language,
                day,
                week_of[day],
                choices_key(given),
                multi_key(given),
            )
        )
        answers.extend(answer_rows(response_id, given))
    return responses, answers


def compare_counts(
    report: dict[str, Any],
    baseline_rows: Iterable[tuple[str, str | None, int]],
    *,
    responses: int,
    questions: Iterable[str],
) -> list[str]:
    """What differs between the raw report and the GROUP BY's counts (empty: they agree)."""
    problems: list[str] = []
    if report.get("completed") != responses:
        problems.append(f"completed is {report.get('completed')}, expected {responses}")
    expected: dict[str, dict[str | None, int]] = {}
    for question_id, option_id, count in baseline_rows:
        expected.setdefault(question_id, {})[option_id] = int(count)
    reported = report.get("questions", {})
    for question_id in questions:
        if question_id not in reported:
            problems.append(f"{question_id}: missing from the report")
            continue
        counts = reported[question_id]["counts"]
        wanted = expected.get(question_id, {})
        for option_id, count in counts.items():
            other = wanted.get(option_id, 0)
            if count != other:
                problems.append(f"{question_id}={option_id}: report {count}, GROUP BY {other}")
        for option_id in sorted(set(wanted) - set(counts), key=str):
            problems.append(
                f"{question_id}={option_id}: {wanted[option_id]} in the GROUP BY, not in the report"
            )
    return problems


@dataclass
class Measurement:
    """One run of one step in a child process."""

    seconds: float
    peak_rss_mb: float  # the child's RSS high-water mark during the step
    start_rss_mb: float  # its RSS just before the step (interpreter, imports, connection)
    python_peak_mb: float | None = None  # tracemalloc peak (warm-up run only)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def step_rss_mb(self) -> float:
        """What the step itself added to the process's RSS at its peak."""
        return max(0.0, self.peak_rss_mb - self.start_rss_mb)


@dataclass
class StepStats:
    """Every timed run of one step at one size, and the warm-up run's figures."""

    name: str
    seconds: list[float]
    peak_rss_mb: float
    step_rss_mb: float
    python_peak_mb: float | None

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def summarize(name: str, timed: list[Measurement], warmup: Measurement | None) -> StepStats:
    """Best/median time; the highest peak of any run (warm-up included: a real run is cold)."""
    runs = [*timed, *([warmup] if warmup else [])]
    return StepStats(
        name=name,
        seconds=[m.seconds for m in timed],
        peak_rss_mb=max(m.peak_rss_mb for m in runs),
        step_rss_mb=max(m.step_rss_mb for m in runs),
        python_peak_mb=warmup.python_peak_mb if warmup else None,
    )


def combine(name: str, parts: list[StepStats]) -> StepStats:
    """Steps run one after the other, round by round: times add up, peaks are the highest
    (the refresh runs in a worker, the build in the report job: separate processes)."""
    rounds = zip(*(p.seconds for p in parts), strict=True)
    python = [p.python_peak_mb for p in parts if p.python_peak_mb is not None]
    return StepStats(
        name=name,
        seconds=[sum(r) for r in rounds],
        peak_rss_mb=max(p.peak_rss_mb for p in parts),
        step_rss_mb=max(p.step_rss_mb for p in parts),
        python_peak_mb=max(python) if python else None,
    )


def round_order(round_index: int) -> tuple[str, ...]:
    """Steps take turns: forward in even rounds, backward in odd ones."""
    return STEPS if round_index % 2 == 0 else tuple(reversed(STEPS))


def format_table(stats: list[StepStats], baseline: StepStats) -> list[str]:
    """The per-size table: one line per step, ratios against the baseline."""
    header = (
        f"  {'step':<34} {'best s':>8} {'median s':>9} {'ratio best':>11} {'ratio median':>13}"
        f" {'peak RSS MB':>12} {'step +MB':>9} {'py peak MB':>11}"
    )
    lines = [header, "  " + "-" * (len(header) - 2)]
    for s in stats:
        python = f"{s.python_peak_mb:11.1f}" if s.python_peak_mb is not None else f"{'-':>11}"
        lines.append(
            f"  {s.name:<34} {s.best:8.3f} {s.median:9.3f}"
            f" {s.best / baseline.best:10.2f}x {s.median / baseline.median:12.2f}x"
            f" {s.peak_rss_mb:12.1f} {s.step_rss_mb:9.1f} {python}"
        )
    return lines


def verdict(size: int, total: StepStats, baseline: StepStats) -> str:
    """The summary line: refresh + build against the aims."""
    ratio = total.median / baseline.median
    ratio_ok = "met" if ratio <= AIM_RATIO else "NOT met"
    rss_ok = "met" if total.peak_rss_mb < AIM_RSS_MB else "NOT met"
    line = (
        f"refresh+build at {size:,}: {ratio:.2f}x the GROUP BY (aim <= {AIM_RATIO:g}x): "
        f"{ratio_ok}; peak RSS {total.peak_rss_mb:.0f} MB (aim < {AIM_RSS_MB:.0f} MB): {rss_ok}"
    )
    if size != AIM_SIZE:
        line += f"  [the aims are set for {AIM_SIZE:,} responses]"
    return line


def temp_written_mb(plan: Any) -> float:
    """Temporary file blocks (8 kB) a query wrote, from EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON).

    A node's buffer counts include its children's, so the top node has the query's total.
    """
    if isinstance(plan, list):
        plan = plan[0]
    top = plan["Plan"]
    return top.get("Temp Written Blocks", 0) * 8192 / 1e6


# ------------------------------------------------------------------------ memory of a process


def _proc_status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark to its current RSS (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def rss_mb() -> float:
    """This process's resident set size now."""
    kb = _proc_status_kb("VmRSS")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def peak_rss_mb() -> float:
    """This process's RSS high-water mark (since the last reset_peak_rss)."""
    kb = _proc_status_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


# ------------------------------------------------------------------------- the measured steps


def _prepare(step: str, database_url: str, redis_url: str, wave: str, responses: int, publish):
    """Imports, connections and the questionnaire, outside the timing; returns the action."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}")
    if step == BASELINE:
        import psycopg

        connection = psycopg.connect(libpq_url(database_url), autocommit=True)
        connection.execute("SELECT 1").fetchall()

        def baseline() -> dict[str, Any]:
            rows = connection.execute(BASELINE_SQL, (wave,)).fetchall()
            return {"rows": len(rows)}

        return baseline

    from sqlalchemy import text

    from bot.core.questionnaire import load_questionnaire
    from bot.infra.db import get_engine

    q = load_questionnaire()
    engine = get_engine(database_url)
    with engine.connect() as connection:  # the pool keeps it: no connect inside the timing
        connection.execute(text("SELECT 1"))

    if step == REFRESH:
        from redis import Redis

        from bot.releases.aggregates import refresh_wave

        redis = Redis.from_url(redis_url)
        redis.ping()

        def refresh() -> dict[str, Any]:
            return {"profiles": refresh_wave(redis, database_url, q, wave)}

        return refresh

    from sqlmodel import Session

    from bot.infra.weeks import parse_week
    from bot.releases.aggregates import load_profiles
    from bot.releases.report import build_raw_report
    from bot.releases.report import publish as publish_report

    if publish:
        import bot.releases.suppression  # noqa: F401  (imported outside the timing, as in a warm job)

    def build() -> dict[str, Any]:
        t0 = time.perf_counter()
        with Session(engine) as session:
            profiles = load_profiles(session, wave)
        t1 = time.perf_counter()
        weeks = sorted({p.week for p in profiles})
        period = (parse_week(weeks[0])[0], parse_week(weeks[-1])[1])
        raw = build_raw_report(
            q, profiles, wave=wave, period=period, started=responses, minimum=SMALL_CELL_MIN
        )
        t2 = time.perf_counter()
        if publish:
            publish_report(raw)
        t3 = time.perf_counter()
        return {"profiles": len(profiles), "load": t1 - t0, "sum": t2 - t1, "publish": t3 - t2}

    return build


def run_step(
    step: str,
    database_url: str,
    redis_url: str,
    wave: str,
    responses: int,
    publish: bool,
    trace: bool,
) -> Measurement:
    """Run one step once in this process and measure it (call it in a fresh process)."""
    import tracemalloc

    action = _prepare(step, database_url, redis_url, wave, responses, publish)
    gc.collect()
    reset_peak_rss()
    start_rss = rss_mb()
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    info = action()
    seconds = time.perf_counter() - t0
    python_peak = None
    if trace:
        python_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return Measurement(seconds, peak_rss_mb(), start_rss, python_peak, info)


def _child_main(connection, *args: Any) -> None:
    try:
        connection.send(("ok", run_step(*args)))
    except BaseException:  # reported to the parent, which fails the run
        connection.send(("error", traceback.format_exc()))
    finally:
        connection.close()


def measure_in_child(
    step: str,
    database_url: str,
    redis_url: str,
    wave: str,
    responses: int,
    publish: bool,
    trace: bool,
) -> Measurement:
    """One measurement of one step in a fresh (spawned) process."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_child_main,
        args=(send, step, database_url, redis_url, wave, responses, publish, trace),
    )
    process.start()
    send.close()
    answered = False
    try:
        if not receive.poll(CHILD_TIMEOUT):
            raise RuntimeError(f"{step}: no result within {CHILD_TIMEOUT:.0f} s")
        status, payload = receive.recv()
        answered = True
    except EOFError:
        process.join(STOP_TIMEOUT)
        raise RuntimeError(
            f"{step}: the child process died (exit code {process.exitcode})"
        ) from None
    finally:
        if answered:  # it is on its way out; interrupted or failed: stop it now
            process.join(STOP_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join(STOP_TIMEOUT)
        receive.close()
    if status != "ok":
        raise RuntimeError(f"{step} failed in the child process:\n{payload}")
    return payload


# ---------------------------------------------------------------------- database and services


def create_database(admin_url: str, name: str) -> None:
    """(Re)create the benchmark's own database; CREATE DATABASE needs autocommit."""
    import psycopg
    from psycopg import sql

    check_bench_database(name)
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_url: str, name: str) -> None:
    """Drop the benchmark's own database (and only it)."""
    import psycopg
    from psycopg import sql

    check_bench_database(name)
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def load_responses(
    database_url: str, q: Any, rng: random.Random, count: int, wave: str
) -> dict[str, float]:
    """Add `count` synthetic responses with COPY, in one transaction, then VACUUM (ANALYZE)."""
    import psycopg

    generate = 0.0
    answers = 0
    t0 = time.perf_counter()
    with psycopg.connect(libpq_url(database_url)) as connection:
        with connection.cursor() as cursor:
            left = count
            while left:
                n = min(BATCH, left)
                left -= n
                g0 = time.perf_counter()
                response_rows, answer_rows_ = generate_batch(q, rng, n, wave=wave)
                generate += time.perf_counter() - g0
                with cursor.copy(RESPONSE_COPY) as copy:
                    for row in response_rows:
                        copy.write_row((*row, rng.randrange(256)))  # the cell key
                with cursor.copy(ANSWER_COPY) as copy:
                    for row in answer_rows_:
                        copy.write_row((uuid.uuid4(), *row))  # answers have random ids
                answers += len(answer_rows_)
        connection.commit()
    loaded = time.perf_counter() - t0
    t1 = time.perf_counter()
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE) response")
        connection.execute("VACUUM (ANALYZE) answer")
    return {
        "answers": answers,
        "seconds": loaded,
        "generate": generate,
        "copy": loaded - generate,
        "vacuum": time.perf_counter() - t1,
    }


def count_rows(database_url: str, wave: str) -> tuple[int, int]:
    """Responses and answer rows of the wave, as stored."""
    import psycopg

    with psycopg.connect(libpq_url(database_url)) as connection:
        responses = connection.execute(
            "SELECT count(*) FROM response WHERE wave = %s", (wave,)
        ).fetchone()[0]
        answers = connection.execute(
            "SELECT count(*) FROM answer a JOIN response r ON r.id = a.response_id"
            " WHERE r.wave = %s",
            (wave,),
        ).fetchone()[0]
    return responses, answers


def check_report(database_url: str, q: Any, wave: str, responses: int) -> list[str]:
    """Problems with the raw report built from the stored profiles (empty: it is right)."""
    import psycopg
    from sqlmodel import Session

    from bot.core.questionnaire import QuestionType
    from bot.infra.db import get_engine
    from bot.infra.weeks import parse_week
    from bot.releases.aggregates import load_profiles
    from bot.releases.report import build_raw_report

    with Session(get_engine(database_url)) as session:
        profiles = load_profiles(session, wave)
    if not profiles:
        return ["no aggregate profiles stored"]
    weeks = sorted({p.week for p in profiles})
    period = (parse_week(weeks[0])[0], parse_week(weeks[-1])[1])
    raw = build_raw_report(
        q, profiles, wave=wave, period=period, started=responses, minimum=SMALL_CELL_MIN
    )
    with psycopg.connect(libpq_url(database_url)) as connection:
        rows = connection.execute(BASELINE_SQL, (wave,)).fetchall()
    questions = [
        question.id
        for question in q.questions
        if question.type in (QuestionType.CHOICE, QuestionType.MULTI)
    ]
    return compare_counts(raw, rows, responses=responses, questions=questions)


def explain_temp(database_url: str, q: Any, wave: str) -> dict[str, float | None]:
    """MB of temporary files PostgreSQL wrote for the GROUP BY and the refresh query."""
    import psycopg
    from sqlalchemy import text

    from bot.infra.db import get_engine

    result: dict[str, float | None] = {BASELINE: None, REFRESH: None}
    prefix = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        plan = connection.execute(prefix + BASELINE_SQL, (wave,)).fetchone()[0]
        result[BASELINE] = temp_written_mb(plan)
    try:
        from bot.releases.aggregates import _profile_sql
    except ImportError:
        return result
    sql, params = _profile_sql(q)
    with get_engine(database_url).connect() as connection:
        plan = connection.execute(text(prefix + sql), {**params, "wave": wave}).scalar()
        result[REFRESH] = temp_written_mb(plan)
    return result


def server_settings(database_url: str) -> str:
    """PostgreSQL's version and the settings that shape both queries' plans."""
    import psycopg

    with psycopg.connect(libpq_url(database_url)) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
        settings = {
            name: connection.execute(f"SHOW {name}").fetchone()[0]
            for name in ("work_mem", "shared_buffers", "max_parallel_workers_per_gather")
        }
    return f"PostgreSQL {version} (" + ", ".join(f"{k} {v}" for k, v in settings.items()) + ")"


def publish_available() -> bool:
    """Whether small-cell suppression (bot.releases.suppression.suppress_report) can be imported."""
    try:
        from bot.releases.suppression import suppress_report  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------------- the run


def measure_size(
    database_url: str, redis_url: str, wave: str, responses: int, repeat: int, publish: bool
) -> tuple[dict[str, StepStats], dict[str, Any]]:
    """Warm-up round (traced), then `repeat` timed rounds taking turns."""
    warmup: dict[str, Measurement] = {}
    for step in STEPS:  # refresh before build: the build reads what the refresh stored
        warmup[step] = measure_in_child(
            step, database_url, redis_url, wave, responses, publish, trace=True
        )
    timed: dict[str, list[Measurement]] = {step: [] for step in STEPS}
    for i in range(repeat):
        for step in round_order(i):
            timed[step].append(
                measure_in_child(
                    step, database_url, redis_url, wave, responses, publish, trace=False
                )
            )
    stats = {step: summarize(step, timed[step], warmup[step]) for step in STEPS}
    stats[TOTAL] = combine(TOTAL, [stats[REFRESH], stats[BUILD]])
    builds = timed[BUILD]
    info = {
        "profiles": warmup[REFRESH].info.get("profiles"),
        "groups": warmup[BASELINE].info.get("rows"),
        "build_parts": {
            part: statistics.median(m.info[part] for m in builds)
            for part in ("load", "sum", "publish")
        },
    }
    return stats, info


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the aggregate report at growing sizes next to one SQL GROUP BY."
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="a PostgreSQL server; the benchmark creates and drops its own database on it",
    )
    parser.add_argument(
        "--bench-database",
        default=DEFAULT_BENCH_DATABASE,
        help="name of the benchmark's own database (surveybot_bench[_suffix]; dropped first)",
    )
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--quick", action="store_true", help="sizes 2000,5000: a smoke test")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per size")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args(argv)
    try:
        args.sizes = list(QUICK_SIZES) if args.quick else parse_sizes(args.sizes)
        check_bench_database(args.bench_database)
    except ValueError as exc:
        parser.error(str(exc))
    if not is_postgres_url(args.database_url):
        parser.error(f"--database-url must be a PostgreSQL URL, not {args.database_url!r}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (as from `kill` or a CI timeout) unwinds like Ctrl-C, so the clean-up runs.
    signal.signal(signal.SIGTERM, _terminate)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from bot.core.questionnaire import load_questionnaire
    from bot.infra.db import get_engine
    from bot.infra.migrate import upgrade

    admin_url = args.database_url
    name = args.bench_database
    bench_url = with_database(admin_url, name)
    workdir = Path(tempfile.mkdtemp(prefix="surveybot-bench-report-"))
    redis_process: subprocess.Popen | None = None
    created = False
    failed = False
    try:
        q = load_questionnaire()
        publish = publish_available()
        create_database(admin_url, name)
        created = True
        upgrade(bench_url)
        redis_process, redis_url = start_redis(workdir)
        print(f"surveybot report benchmark: survey {q.id} v{q.version}, wave {WAVE!r}")
        print(
            f"  {server_settings(bench_url)}, database {name!r} (created for this run);"
            f" dedicated redis-server {redis_url}"
        )
        print(
            f"  Python {platform.python_version()}, {os.cpu_count()} CPUs;"
            f" {args.repeat} timed rounds per size after one warm-up round, steps taking turns,"
            " each run in a fresh process"
        )
        print(
            "  build = load profiles + sum in Python + "
            + (
                "small-cell suppression (publish)"
                if publish
                else "NO suppression (bot.releases.suppression not importable: publish not "
                "measured)"
            )
        )
        print(
            "  peak RSS = the Python process's high-water mark during the step (interpreter and"
            " imports included); step +MB = above its RSS just before the step;"
        )
        print(
            "  py peak = tracemalloc peak (warm-up run). PostgreSQL's own memory is not measured;"
            " its temporary files are shown per size."
        )
        rng = random.Random(args.seed)
        stored = 0
        results: dict[int, tuple[dict[str, StepStats], dict[str, Any]]] = {}
        for size in args.sizes:
            load = load_responses(bench_url, q, rng, size - stored, WAVE)
            stored = size
            responses, answers = count_rows(bench_url, WAVE)
            print()
            print(f"== {size:,} responses ({answers:,} answer rows)")
            print(
                f"  load: +{load['answers']:,} answer rows in {load['seconds']:.1f} s"
                f" (generate {load['generate']:.1f} s, COPY {load['copy']:.1f} s),"
                f" VACUUM (ANALYZE) {load['vacuum']:.1f} s  [not part of the comparison]"
            )
            if responses != size:
                print(f"check: FAIL: {responses:,} responses stored, expected {size:,}")
                failed = True
                break
            stats, info = measure_size(bench_url, redis_url, WAVE, size, args.repeat, publish)
            results[size] = (stats, info)
            baseline = stats[BASELINE]
            for line in format_table(
                [stats[BASELINE], stats[REFRESH], stats[BUILD], stats[TOTAL]], baseline
            ):
                print(line)
            parts = info["build_parts"]
            print(
                f"  {info['profiles']:,} profiles; GROUP BY returns {info['groups']} rows;"
                f" build median: load {parts['load']:.3f} s, sum {parts['sum']:.3f} s,"
                f" publish {parts['publish']:.3f} s"
            )
            temp = explain_temp(bench_url, q, WAVE)
            print(
                "  PostgreSQL temp files written (EXPLAIN ANALYZE, one extra run): "
                + ", ".join(
                    f"{'GROUP BY' if step == BASELINE else 'refresh query'}"
                    f" {'?' if mb is None else f'{mb:.1f}'} MB"
                    for step, mb in temp.items()
                )
            )
            problems = check_report(bench_url, q, WAVE, size)
            if problems:
                print("check: FAIL: " + "; ".join(problems[:20]))
                failed = True
                break
            print(f"check: OK (completed = {size:,}; every question's counts = the GROUP BY's)")
        if results:
            size = max(results)
            stats = results[size][0]
            print()
            print(verdict(size, stats[TOTAL], stats[BASELINE]))
            print("  (ratio of medians; peak RSS is the higher of the refresh and build processes)")
    finally:
        stop_process(redis_process)
        get_engine(bench_url).dispose()  # this process's pooled connections to the database
        if created:
            if args.keep:
                print(f"kept database: {bench_url}")
            else:
                drop_database(admin_url, name)
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
