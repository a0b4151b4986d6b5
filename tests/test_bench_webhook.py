"""bench/webhook.py: its pure helpers, and one quick run end to end (real gunicorn and Redis).

No assertion here is about speed: timings depend on the machine. The quick run proves the
benchmark works (servers start, every simulated respondent completes the survey, the figures and
their ratio are printed, everything stops).
"""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from bench import webhook as bench
from bot.engine import Inbound, step
from bot.questionnaire import QuestionType, load_questionnaire

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_percentile_interpolates_between_ranks():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert bench.percentile(values, 0) == 1.0
    assert bench.percentile(values, 25) == 2.0
    assert bench.percentile(values, 50) == 3.0
    assert bench.percentile(values, 100) == 5.0
    assert bench.percentile([1.0, 2.0], 99) == pytest.approx(1.99)
    assert bench.percentile([7.0], 99) == 7.0
    assert bench.percentile(list(range(1, 101)), 99) == pytest.approx(99.01)


@pytest.mark.parametrize("p", [-1, 100.5])
def test_percentile_refuses_a_rank_outside_0_to_100(p):
    with pytest.raises(ValueError):
        bench.percentile([1.0], p)


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        bench.percentile([], 50)


def test_respondent_numbers_are_distinct_made_up_numbers():
    numbers = [bench.respondent_number(i) for i in range(bench.MAX_NUMBERS)]
    assert len(set(numbers)) == bench.MAX_NUMBERS
    assert all(n.startswith("+1555010") and len(n) == 12 for n in numbers)
    for bad in (-1, bench.MAX_NUMBERS):
        with pytest.raises(ValueError):
            bench.respondent_number(bad)


def test_requests_are_signed_as_twilio_signs_them():
    token = "bench-token-0123456789abcdef"
    script = ["SURVEY", "1", "1 3"]
    respondents = bench.build_requests(token, script, first=5, count=3)
    url = bench.webhook_url()
    assert url == bench.PUBLIC_BASE_URL + "/twilio/sms"
    validator = RequestValidator(token)
    sids = set()
    assert len(respondents) == 3
    for i, conversation in enumerate(respondents):
        assert len(conversation) == len(script)
        for text, (body, signature) in zip(script, conversation, strict=True):
            params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
            assert params["From"] == bench.respondent_number(5 + i)
            assert params["Body"] == text
            assert params["MessageSid"] == params["SmsSid"]
            assert validator.validate(url, params, signature)
            assert not validator.validate(url, {**params, "Body": "2"}, signature)
            assert not RequestValidator("another-token-0123456789").validate(url, params, signature)
            sids.add(params["MessageSid"])
    assert len(sids) == 9, "every message has a fresh MessageSid"


def test_survey_script_answers_every_question_to_the_closing_message():
    questionnaire = load_questionnaire()
    script, closing = bench.survey_script(questionnaire)
    assert script[:2] == ["SURVEY", "1"]
    assert closing == questionnaire.message("closing", "en")
    multi = [q for q in questionnaire.questions if q.type is QuestionType.MULTI]
    if multi:
        assert "1 3" in script
    # Replaying it through the engine ends the conversation with the closing message.
    session = None
    for n, text in enumerate(script):
        result = step(questionnaire, session, Inbound(text=text))
        session = result.session
        assert (session is None) == (n == len(script) - 1)
    assert result.replies[-1].text == closing


def test_split_rounds_keeps_order_and_size():
    items = list(range(10))
    chunks = bench.split_rounds(items, 3)
    assert chunks == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert bench.split_rounds(items[:2], 4) == [[0], [1]]


def test_merge_runs_adds_up_rounds():
    def run(messages: int, seconds: float, latency: float) -> bench.RunResult:
        return bench.RunResult(
            name="x",
            messages=messages,
            seconds=seconds,
            latencies=[latency] * messages,
            last_replies=[b"r"],
            cpu={"server": 1.0},
            workers_cpu=[0.6, 0.4],
        )

    merged = bench.merge_runs("app", [run(10, 1.0, 0.001), run(30, 2.0, 0.003)])
    assert merged.name == "app"
    assert merged.messages == 40
    assert merged.rate == pytest.approx(40 / 3.0)
    assert merged.latency_ms(50) == pytest.approx(3.0)
    assert merged.cpu == {"server": 2.0}
    assert merged.workers_cpu == pytest.approx([1.2, 0.8])
    assert merged.last_replies == [b"r", b"r"]


def test_quick_benchmark_runs_end_to_end():
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "webhook.py"), "--quick"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "ratio (app / minimal) throughput" in result.stdout, output
    assert "check: OK" in result.stdout, output
    assert "FAIL" not in result.stdout, output
