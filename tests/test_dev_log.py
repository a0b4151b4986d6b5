"""The log of `surveybot dev` never holds a simulated number.

Runs `surveybot dev` itself (embedded Redis, SQLite, `flask run` with Werkzeug's request log,
the worker and cron, all writing to one captured output), drives a texted survey and a called
survey through the simulator page in Chromium (its outbox polling included), a text, a call
and a WhatsApp chat (a button tapped) through the terminal simulator, then scans everything
the processes printed for the numbers in every common format, and for the WhatsApp
ProfileName the simulator sends.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from bot.channels.simulator import SIMULATED_PROFILE_NAME
from bot.cli.terminal_sim import run_terminal_call, run_terminal_sim
from bot.core.questionnaire import load_questionnaire
from tests.live_server import BrowserContext, Page, feed_input
from tests.test_browser import take_survey
from tests.test_browser_phone import RECORD_SPEECH, answer, open_phone, wait_for_answer

TEXTER = "+17865550173"  # fictional 555-01xx numbers, one per way of reaching the bot
CALLER = "+17865550174"
TERMINAL = "+17865550175"
WHATSAPPER = "+17865550176"
MAX_CALL_STEPS = 20
START_TIMEOUT = 90
POLLS_WANTED = 3  # the page's outbox polls (every 2 s) seen in the request log


def number_formats(e164: str) -> set[str]:
    """A US number as people, forms and URLs write it: E.164, digits with and without the
    country code, national formatting, each also URL-encoded (path and form style)."""
    match = re.fullmatch(r"\+1(\d{3})(\d{3})(\d{4})", e164)
    assert match, e164
    area, exchange, line = match.groups()
    national = f"{area}{exchange}{line}"
    written = {
        e164,
        e164[1:],
        national,
        f"({area}) {exchange}-{line}",
        f"({area}){exchange}-{line}",
        f"{area}-{exchange}-{line}",
        f"{area}.{exchange}.{line}",
        f"{area} {exchange} {line}",
        f"+1 ({area}) {exchange}-{line}",
        f"+1 {area} {exchange} {line}",
        f"+1-{area}-{exchange}-{line}",
        f"1-{area}-{exchange}-{line}",
    }
    encoded = {quote(w, safe="") for w in written} | {quote_plus(w) for w in written}
    return written | encoded


def test_number_formats_cover_what_the_old_page_logged():
    formats = number_formats(TEXTER)
    assert "%2B17865550173" in formats  # GET /simulator/api/outbox?from=%2B17865550173
    assert "(786) 555-0173" in formats and "7865550173" in formats
    assert "%28786%29+555-0173" in formats


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    """Wait until the dev server answers /healthz (fail with its log if it dies)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"surveybot dev exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    pytest.fail(f"surveybot dev did not answer in {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


@contextmanager
def surveybot_dev(log: Path, instance: Path) -> Iterator[str]:
    """`surveybot dev` on a free port with its embedded defaults, everything it prints going
    to `log`; yields its URL, and stops it with Ctrl-C on the way out."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(INSTANCE_PATH=str(instance), PYTHONUNBUFFERED="1")
    surveybot = Path(sys.executable).with_name("surveybot")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(surveybot), "dev", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(url, process, log)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: it stops its children
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def request_lines(log: str, path: str) -> list[str]:
    """Werkzeug's request-log lines for `path` (any method, any query string)."""
    return re.findall(rf'"[A-Z]+ {re.escape(path)}(?:\?[^ "]*)? HTTP/1\.1" \d{{3}}', log)


def text_survey(page: Page, url: str) -> None:
    """A whole texted survey on the simulator page, from a number typed as people write it."""
    questionnaire = load_questionnaire(None)
    page.goto(f"{url}/simulator")
    page.locator("#sim-number").fill("(786) 555-0173")
    page.locator("#sim-number").dispatch_event("change")
    take_survey(page, questionnaire, questionnaire.start_keywords["en"][0].upper())


def call_survey(browser_context: BrowserContext, url: str) -> Page:
    """A whole called survey on the simulator page's keypad, to the end of the call."""
    page, errors = open_phone(browser_context, url, RECORD_SPEECH)
    page.locator("#sim-number").fill(CALLER)
    page.locator("#sim-number").dispatch_event("change")
    page.get_by_role("button", name="Call").click()
    wait_for_answer(page, 0)
    before = page.locator("#call-transcript .msg-bot").count()
    page.locator('#call-keypad .key[data-key="1"]').click()  # English
    wait_for_answer(page, before)
    for _ in range(MAX_CALL_STEPS):
        if page.locator("#call-mode").get_attribute("data-state") == "ended":
            break
        answer(page)
    assert page.locator("#call-mode").get_attribute("data-state") == "ended"
    assert errors == []
    return page


def test_the_dev_log_never_holds_a_simulated_number(browser_context, tmp_path, monkeypatch, capsys):
    log = tmp_path / "dev.log"
    with surveybot_dev(log, tmp_path / "instance") as url:
        texting = browser_context.new_page()
        text_survey(texting, url)
        calling = call_survey(browser_context, url)
        # Both pages keep polling their outbox; wait until the request log shows it.
        deadline = time.monotonic() + 20
        while len(request_lines(log.read_text(), "/simulator/api/outbox")) < POLLS_WANTED:
            assert time.monotonic() < deadline, "the pages stopped polling their outbox"
            time.sleep(0.5)
        texting.close()
        calling.close()

        # The terminal simulator: a text, then a call hung up at the language menu.
        feed_input(monkeypatch, ["hola"])
        run_terminal_sim(url, TERMINAL)
        feed_input(monkeypatch, ["/hangup"])
        run_terminal_call(url, TERMINAL)
        assert TERMINAL in capsys.readouterr().out  # the terminal shows it; the log must not
        # On WhatsApp (with a ProfileName in every form), up to a tap of a button.
        feed_input(monkeypatch, ["SURVEY", "1", "1", "1"])
        run_terminal_sim(url, WHATSAPPER, whatsapp=True)
        assert "(tapped [1]" in capsys.readouterr().out
    text = log.read_text()  # complete: surveybot dev and its children have exited

    # It is Werkzeug's request log, and every simulator endpoint used is in it.
    for path in (
        "/simulator",
        "/simulator/api/send",
        "/simulator/api/outbox",
        "/simulator/api/call",
    ):
        assert request_lines(text, path), f"{path} is not in the log:\n{text}"
    for number in (TEXTER, CALLER, TERMINAL, WHATSAPPER):
        found = sorted(f for f in number_formats(number) if f in text)
        assert not found, f"{number} is in the dev log as {found}"
    assert SIMULATED_PROFILE_NAME not in text
