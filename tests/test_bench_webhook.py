"""bench/webhook.py: its pure helpers, and one quick run end to end (real gunicorn and Redis)
per channel.

No assertion here is about speed: timings depend on the machine. The quick run proves the
benchmark works (servers start, every simulated respondent completes the survey, the figures and
their ratio are printed, everything stops). The phone channel's requests are also driven through
the app's test client, to prove the predicted <Gather> action URLs are the ones the bot writes.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from bench import minimal_app
from bench import webhook as bench
from bench.services import MAX_NUMBERS, bench_number
from bot.core.engine import Inbound, step
from bot.core.questionnaire import QuestionType, load_questionnaire
from bot.core.voice_prompts import prompt_speech
from bot.infra.defaults import DEFAULT_WAVE
from bot.infra.queues import get_queue
from bot.records import inbox
from tests.conftest import TEST_SECRETS
from tests.utils import inbox_records
from tests.voice_utils import check_twiml

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


def test_bench_numbers_are_distinct_made_up_numbers():
    numbers = [bench_number(i) for i in range(MAX_NUMBERS)]
    assert len(set(numbers)) == MAX_NUMBERS
    assert all(n.startswith("+1555010") and len(n) == 12 for n in numbers)
    for bad in (-1, MAX_NUMBERS):
        with pytest.raises(ValueError):
            bench_number(bad)


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
        for text, (path, body, signature) in zip(script, conversation, strict=True):
            assert path == "/twilio/sms"
            params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
            assert params["From"] == bench_number(5 + i)
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


# ------------------------------------------------------------------------------ phone channel


def form(body: bytes) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))


def test_call_script_presses_a_key_per_step_to_the_closing_words():
    questionnaire = load_questionnaire()
    script, closing = bench.call_script(questionnaire)
    assert script[:2] == [str(questionnaire.languages.index("en") + 1), "1"]  # language, consent
    assert closing == prompt_speech(questionnaire, "message.closing", "en")
    multi = [q for q in questionnaire.questions if q.type is QuestionType.MULTI]
    assert script.count("13#") == len(multi)
    assert len(script) == 2 + len(questionnaire.questions)  # the default survey skips nothing


def test_call_requests_are_signed_over_the_absolute_url_with_its_query():
    token = "bench-token-0123456789abcdef"
    script = ["1", "1", "13#"]
    calls = bench.build_call_requests(token, script, first=5, count=3)
    validator = RequestValidator(token)
    base = bench.PUBLIC_BASE_URL
    sids = set()
    assert len(calls) == 3
    for i, call in enumerate(calls):
        paths = [path for path, _, _ in call]
        assert paths == [
            "/twilio/voice",
            "/twilio/voice/gather?n=1",
            "/twilio/voice/gather?n=2",
            "/twilio/voice/gather?n=3",
        ]
        assert [base + path for path in paths[1:]] == [bench.gather_url(n) for n in (1, 2, 3)]
        call_sids = {form(body)["CallSid"] for _, body, _ in call}
        assert len(call_sids) == 1, "one CallSid for every request of a call"
        sids |= call_sids
        for path, body, signature in call:
            params = form(body)
            url = base + path
            assert params["From"] == params["Caller"] == bench_number(5 + i)
            assert validator.validate(url, params, signature)
            if "?" in path:  # the query string is signed too
                assert not validator.validate(url.split("?")[0], params, signature)
                assert not validator.validate(url[:-1] + "9", params, signature)
            assert not validator.validate(url, {**params, "Digits": "2"}, signature)
            assert not RequestValidator("another-token-0123456789").validate(url, params, signature)
        start = form(call[0][1])
        assert start["CallStatus"] == "ringing" and "Digits" not in start
        pressed = [form(body) for _, body, _ in call[1:]]
        assert [(p["Digits"], p["FinishedOnKey"]) for p in pressed] == [
            ("1", ""),
            ("1", ""),
            ("13", "#"),
        ]
        assert {p["CallStatus"] for p in pressed} == {"in-progress"}
    assert len(sids) == 3, "every call has a fresh CallSid"
    assert all(sid.startswith("CA") and len(sid) == 34 for sid in sids)


def test_predicted_gather_urls_are_the_ones_the_app_answers_with(app, client, redis):
    settings = app.extensions["surveybot"].settings
    assert settings.TWILIO_AUTH_TOKEN == TEST_SECRETS["TWILIO_AUTH_TOKEN"]
    base = settings.PUBLIC_BASE_URL
    script, closing = bench.call_script(app.extensions["surveybot"].questionnaire)
    calls = bench.build_call_requests(settings.TWILIO_AUTH_TOKEN, script, 0, 2, base)
    for call in calls:
        answers = []
        for path, body, signature in call:
            response = client.post(
                path, data=body, headers={**bench.BASE_HEADERS, "X-Twilio-Signature": signature}
            )
            assert response.status_code == 200, response.data
            answers.append(check_twiml(response.data))
        for answer, (next_path, _, _) in zip(answers, call[1:], strict=False):
            assert answer.gather is not None, answer.xml
            # The bot hands Twilio the next step's URL with its connection overrides; Twilio
            # requests (and the benchmark signs) the URL without them.
            overrides = settings.TWILIO_CONNECTION_OVERRIDES
            assert answer.gather["action"] == f"{base}{next_path}#{overrides}"
        assert answers[-1].hung_up and answers[-1].text == closing
        assert bench.call_ended(answers[-1].xml, closing)
        assert not any(bench.call_ended(a.xml, closing) for a in answers[:-1])
    assert inbox.size(redis) and get_queue(redis).count == 0, "no job per call"
    settings = app.extensions["surveybot"].settings
    assert len(inbox_records(redis, settings, inbox.RESPONSE)) == len(calls), "one per call"
    counts = inbox_records(redis, settings, inbox.COUNT)
    completed = [c for c in counts if (c["wave"], c["field"]) == (DEFAULT_WAVE, "completed")]
    assert len(completed) == len(calls)


def test_call_ended_needs_the_closing_words_then_a_hangup():
    closing = "Thank you! Goodbye."
    head = '<?xml version="1.0" encoding="UTF-8"?><Response>'
    said = f'<Say language="en-US" voice="Polly.Joanna">{closing}</Say>'
    assert bench.call_ended(f"{head}{said}<Hangup /></Response>".encode(), closing)
    assert not bench.call_ended(f"{head}<Hangup />{said}</Response>".encode(), closing)
    assert not bench.call_ended(f"{head}{said}</Response>".encode(), closing)
    gather = f'{head}<Gather action="https://x.invalid/g?n=2">{said}</Gather></Response>'
    assert not bench.call_ended(gather.encode(), closing)
    assert not bench.call_ended(minimal_app.FIXED_VOICE_TWIML.encode(), closing)
    assert not bench.call_ended(b"", closing)
    assert not bench.call_ended(b"<Response>", closing)


def test_minimal_app_answers_the_voice_paths_with_a_fixed_gather():
    client = minimal_app.app.test_client()
    for path in ("/twilio/voice", "/twilio/voice/gather?n=1", "/twilio/voice/gather?n=7"):
        response = client.post(path, data={"Digits": "1"})
        assert response.status_code == 200
        assert response.mimetype == "text/xml"
        assert response.data == minimal_app.FIXED_VOICE_TWIML.encode()
    turn = check_twiml(minimal_app.FIXED_VOICE_TWIML.encode())
    assert turn.gather is not None and turn.said
    response = client.post("/twilio/sms", data={"Body": "1"})
    assert response.data == minimal_app.FIXED_TWIML.encode()


def test_tables_name_the_unit_of_each_channel():
    run = bench.RunResult(
        name="app", messages=9, seconds=1.0, latencies=[0.001], last_replies=[], cpu={"server": 1}
    )
    sms = bench.format_table([run]).splitlines()[0]
    assert sms == "server      messages  seconds    msg/s   p50 ms   p99 ms"  # as it always was
    assert bench.format_cpu_table([run]).startswith("CPU ms/msg   server    total")
    voice = bench.format_table([run], bench.VOICE_UNIT).splitlines()
    assert voice[0].split() == [
        "server",
        "requests",
        "seconds",
        "requests/s",
        "p50",
        "ms",
        "p99",
        "ms",
    ]
    assert len(voice[2]) == len(voice[0])
    assert bench.format_cpu_table([run], bench.VOICE_UNIT).startswith("CPU ms/req   server")


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


@pytest.mark.parametrize(
    ("channel", "rate", "check"),
    [
        ("sms", "msg/s", "got the closing message"),
        ("voice", "requests/s", "ended with the closing words and <Hangup/>"),
    ],
)
def test_quick_benchmark_runs_end_to_end(channel, rate, check):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "webhook.py"), "--quick", "--channel", channel],
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
    assert rate in result.stdout, output
    assert check in result.stdout, output
    assert "FAIL" not in result.stdout, output
