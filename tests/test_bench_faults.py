"""bench/faults.py: its answer plans tell respondents apart, and one quick scenario end to end
against real processes (the Procfile's gunicorn, two forking workers and cron, a redis-server
with AOF, PostgreSQL): every text delivered three times at once, nothing lost or duplicated,
no 500. No assertion here is about time; the run's figures are printed by the bench.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench.fault_driver import MAX_RESPONDENTS, identity, plan
from bench.procfile import PostgresCluster, finished_questionnaire
from bot.core.questionnaire import load_questionnaire

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_every_plan_is_told_apart_by_its_answers(tmp_path):
    q = load_questionnaire(finished_questionnaire(tmp_path))
    options = {question.id: [o.id for o in question.options] for question in q.questions}
    plans = [plan(i, options) for i in range(MAX_RESPONDENTS)]
    identities = {identity({k: v for k, (_, v) in p.items()}) for p in plans}
    assert len(identities) == MAX_RESPONDENTS
    with pytest.raises(ValueError):
        plan(MAX_RESPONDENTS, options)


def bench_database() -> str:
    """A PostgreSQL database of this test's own, on TEST_DATABASE_URL's server."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql")):
        if PostgresCluster.find_bindir() is None:
            pytest.skip("the fault harness needs PostgreSQL (TEST_DATABASE_URL or initdb)")
        return ""  # the bench starts a cluster of its own
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.strip('/')}_bench_faults"
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(scheme="postgresql", path=f"/{name}"))


def table_row(output: str, scenario: str) -> dict[str, str]:
    """The bench's final table row of `scenario`, by column name."""
    lines = output.splitlines()
    header = max(i for i, line in enumerate(lines) if line.startswith("scenario"))
    names = re.split(r"\s{2,}", lines[header].strip())
    for line in lines[header + 2 :]:
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] == scenario:
            return dict(zip(names, cells, strict=True))
    raise AssertionError(f"no row for {scenario} in:\n{output}")


def test_a_quick_run_delivering_every_text_three_times_at_once_loses_nothing():
    database = bench_database()
    argv = [sys.executable, "bench/faults.py", "--quick", "--respondents", "6",
            "--scenarios", "concurrent3"]  # fmt: skip
    if database:
        argv += ["--database-url", database]
    result = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    row = table_row(result.stdout, "concurrent3")
    assert row["surveys"] == "6", output
    assert row["stored"] == "6", output
    assert (row["lost"], row["dup"], row["altered"], row["foreign"]) == ("0",) * 4, output
    assert row["500"] == "0", output
    texts, requests = re.fullmatch(r"(\d+) \((\d+)\)", row["texts (requests)"]).groups()
    assert int(requests) == 3 * int(texts), output  # every text delivered three times
    assert result.returncode == 0, output
