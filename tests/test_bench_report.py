"""bench/report.py: its pure helpers, and one quick run end to end on PostgreSQL.

No assertion here is about speed: timings depend on the machine. The quick run proves the
benchmark works (its own database is created and dropped, the report is refreshed and built,
checked against the GROUP BY, and the ratios are printed).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from bench import report as bench
from bot.core.engine import applies
from bot.core.questionnaire import QuestionType, load_questionnaire
from bot.infra.weeks import iso_week

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def q():
    return load_questionnaire()


def test_generated_rows_follow_the_skip_logic(q):
    rng = random.Random(3)
    responses, answers = bench.generate_batch(q, rng, 2_000, wave="w")
    assert len(responses) == 2_000
    assert len({r[0] for r in responses}) == 2_000, "response ids are distinct"
    rows_of: dict[uuid.UUID, list] = defaultdict(list)
    for row in answers:
        rows_of[row[0]].append(row)
    assert set(rows_of) <= {r[0] for r in responses}
    by_id = {o.id: o for o in q.questions}
    languages = Counter()
    for response_id, survey, version, wave, language, day, week, c_key, m_key in responses:
        assert (survey, version, wave) == (q.id, q.version, "w")
        assert c_key.startswith("|") or c_key == ""
        assert m_key.startswith("|") or m_key == ""
        assert week == iso_week(day)
        languages[language] += 1
        rows = rows_of[response_id]
        given: dict[str, list] = defaultdict(list)
        for _, question_id, option_id, number, skipped in rows:
            given[question_id].append((option_id, number, skipped))
        # Replay the questionnaire: a question is answered (or skipped) exactly when asked.
        answers_so_far: dict = {}
        for question in q.questions:
            asked = applies(question, answers_so_far)
            assert (question.id in given) == asked, (question.id, given)
            if not asked:
                continue
            entries = given[question.id]
            if any(skipped for _, _, skipped in entries):
                assert entries == [(None, None, True)]
                answers_so_far[question.id] = None
                continue
            options = [option_id for option_id, _, _ in entries]
            valid = {o.id for o in by_id[question.id].options}
            if question.type is QuestionType.MULTI:
                assert options and len(set(options)) == len(options) and set(options) <= valid
                answers_so_far[question.id] = options
            else:
                assert len(options) == 1 and options[0] in valid
                answers_so_far[question.id] = options[0]
    assert set(languages) == set(q.languages), "every language appears"
    per_response = len(answers) / len(responses)
    assert 5 <= per_response <= 9, per_response
    multi = [qq.id for qq in q.questions if qq.type is QuestionType.MULTI]
    if multi:
        counts = Counter((row[0], row[1]) for row in answers if row[1] in multi and not row[4])
        assert max(counts.values()) > 1, "a multi question gets several rows"


def test_generated_days_span_a_few_iso_weeks(q):
    responses, _ = bench.generate_batch(q, random.Random(5), 500)
    weeks = {r[6] for r in responses}
    assert len(weeks) == bench.WEEKS
    assert all(r[5] in bench.bench_days() for r in responses)
    assert bench.bench_days()[0].isoweekday() == 1


def test_generation_is_reproducible(q):
    first = bench.generate_batch(q, random.Random(11), 50)
    again = bench.generate_batch(q, random.Random(11), 50)
    assert first == again


def test_answer_rows_match_the_storage_job():
    from bot.records.responses import answer_rows

    rid = uuid.uuid4()
    answers = {"a": "yes", "b": None, "c": ["x", "y"], "d": 7}
    stored = [
        (r.response_id, r.question_id, r.option_id, r.number, bool(r.skipped))
        for r in answer_rows(rid, answers)
    ]
    assert bench.answer_rows(rid, answers) == stored


def test_compare_counts_agrees_and_finds_differences():
    report = {
        "completed": 10,
        "questions": {
            "a": {"answered": 9, "counts": {"yes": 6, "no": 3}},
            "m": {"answered": 4, "counts": {"x": 4, "y": 2}},
        },
    }
    rows = [("a", "yes", 6), ("a", "no", 3), ("m", "x", 4), ("m", "y", 2), ("n", None, 10)]
    assert bench.compare_counts(report, rows, responses=10, questions=["a", "m"]) == []
    assert bench.compare_counts(report, rows, responses=11, questions=["a", "m"]) != []
    wrong = [*rows[:1], ("a", "no", 4), *rows[2:]]
    problems = bench.compare_counts(report, wrong, responses=10, questions=["a", "m"])
    assert problems == ["a=no: report 3, GROUP BY 4"]
    extra = [*rows, ("m", "z", 1)]
    assert bench.compare_counts(report, extra, responses=10, questions=["a", "m"]) != []
    assert bench.compare_counts(report, rows, responses=10, questions=["a", "m", "b"]) != []


def test_sizes_must_grow():
    assert bench.parse_sizes("10000,100_000, 1000000") == [10_000, 100_000, 1_000_000]
    for bad in ("", "0", "5,5", "10,5", "-1"):
        with pytest.raises(ValueError):
            bench.parse_sizes(bad)


def test_only_its_own_database_may_be_dropped():
    assert bench.check_bench_database("surveybot_bench") == "surveybot_bench"
    assert bench.check_bench_database("surveybot_bench_ci_12") == "surveybot_bench_ci_12"
    for bad in ("postgres", "test", "surveybot", "surveybot_bench; drop", "Surveybot_bench"):
        with pytest.raises(ValueError):
            bench.check_bench_database(bad)


def test_database_urls():
    url = "postgresql+psycopg://u:p@db.example:5433/main?sslmode=require"
    assert bench.is_postgres_url(url)
    assert bench.is_postgres_url("postgres://u@h/x")
    assert not bench.is_postgres_url("sqlite:///x.db")
    assert not bench.is_postgres_url(None)
    assert bench.libpq_url(url) == "postgresql://u:p@db.example:5433/main?sslmode=require"
    assert (
        bench.with_database(url, "surveybot_bench")
        == "postgresql://u:p@db.example:5433/surveybot_bench?sslmode=require"
    )


def test_steps_take_turns_and_totals_add_up():
    assert bench.round_order(0) == bench.STEPS
    assert bench.round_order(1) == tuple(reversed(bench.STEPS))

    def stats(name, seconds, peak, python):
        timed = [bench.Measurement(s, peak, 30.0) for s in seconds]
        return bench.summarize(name, timed, bench.Measurement(9.0, peak + 1, 30.0, python))

    refresh = stats(bench.REFRESH, [1.0, 3.0, 2.0], 100.0, 10.0)
    build = stats(bench.BUILD, [0.5, 0.1, 0.2], 80.0, 5.0)
    assert (refresh.best, refresh.median) == (1.0, 2.0)
    assert refresh.peak_rss_mb == 101.0 and refresh.step_rss_mb == 71.0
    total = bench.combine(bench.TOTAL, [refresh, build])
    assert total.seconds == [1.5, 3.1, 2.2]
    assert total.median == pytest.approx(2.2)
    assert total.peak_rss_mb == 101.0 and total.python_peak_mb == 10.0
    baseline = stats(bench.BASELINE, [1.0, 1.0, 1.0], 40.0, 0.1)
    line = bench.verdict(1_000_000, total, baseline)
    assert line.startswith("refresh+build at 1,000,000: 2.20x the GROUP BY (aim <= 3x): met;")
    assert "peak RSS 101 MB (aim < 500 MB): met" in line
    assert "NOT met" in bench.verdict(1_000_000, total, stats(bench.BASELINE, [0.5], 40.0, 0))
    table = bench.format_table([baseline, refresh, build, total], baseline)
    assert "ratio" in table[0] and len(table) == 6


def test_peak_rss_can_be_read_and_reset():
    bench.reset_peak_rss()
    assert bench.peak_rss_mb() >= bench.rss_mb() * 0.9 > 0


def test_temp_written_reads_the_top_plan_node():
    plan = [{"Plan": {"Node Type": "Aggregate", "Temp Written Blocks": 1000, "Plans": []}}]
    assert bench.temp_written_mb(plan) == pytest.approx(8.192)
    assert bench.temp_written_mb({"Plan": {"Node Type": "Seq Scan"}}) == 0


def test_a_step_failing_in_its_child_process_fails_the_run():
    # The child's traceback reaches the parent (nothing to connect to: the step is unknown).
    with pytest.raises(RuntimeError, match="(?s)failed in the child.*unknown step"):
        bench.measure_in_child(
            "no such step", "postgresql://x@127.0.0.1:1/none", "", "w", 1, False, trace=False
        )


def test_quick_benchmark_runs_end_to_end():
    url = os.environ.get("TEST_DATABASE_URL")
    if not bench.is_postgres_url(url):
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL to a postgresql:// URL")
    database = f"surveybot_bench_test_{os.getpid()}"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "report.py"),
            "--quick",
            "--repeat",
            "2",
            "--database-url",
            url,
            "--bench-database",
            database,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "check: OK" in result.stdout, output
    assert "FAIL" not in result.stdout, output
    assert "ratio" in result.stdout, output
    assert "refresh+build at 5,000:" in result.stdout, output
    for step in (bench.BASELINE, bench.REFRESH, bench.BUILD, bench.TOTAL):
        assert step in result.stdout, output
    import psycopg

    with psycopg.connect(bench.libpq_url(url)) as connection:
        left = connection.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()[0]
    assert left == 0, "the benchmark drops its database"
