"""Benchmark of the SMS webhook: the real app under gunicorn on a real Redis, next to a baseline.

Run:  python bench/webhook.py            (or python -m bench.webhook; --quick for a smoke run)
      python bench/webhook.py --channel voice   (the phone channel: whole calls instead of texts)

What it does, in one run:
  1. starts a dedicated redis-server on a free port (no persistence), unless --redis-url is given;
  2. starts two gunicorn servers on 127.0.0.1 with the same settings (workers, gthread threads,
     no access log): the bot (`bot:create_app()`, SURVEYBOT_ENV=production) and a minimal Flask
     endpoint answering fixed TwiML (`bench.minimal_app:app`);
  3. builds every request beforehand: each simulated respondent (a made-up +1555010XXXX number)
     texts a complete English survey (SURVEY, consent, one answer per question; "1 3" for a
     multiple-choice question), each message with a fresh MessageSid and an X-Twilio-Signature
     for PUBLIC_BASE_URL + /twilio/sms. Signing happens before the timed loop, so the client's
     HMAC cost is not in the figures. With --channel voice, each respondent places a whole call
     in English instead (fresh CallSid): the call-start POST to /twilio/voice, then one POST to
     /twilio/voice/gather?n=N per keypad answer (language 1, consent 1, one key per question,
     "13" then # for a multiple-choice question), N predicted as the bot numbers its <Gather>
     actions, each signed over its absolute URL with the query string;
  4. warms each server up, then sends the same requests (same bytes, same headers) to each,
     from --clients processes, every process driving its share of respondents one after
     another, one request at a time, each respondent's survey on its own keep-alive connection
     (--one-connection: one connection per process for the whole run; gunicorn never moves a
     connection between workers, so a few long-lived ones can all land on one worker and cap
     the run at one worker's GIL, which makes the figures swing between runs). The measured
     respondents are split into --rounds rounds, the servers taking turns (minimal, app, app,
     minimal, ...), so that whatever else the machine does weighs on both alike;
  5. prints messages (for voice: requests) per second and p50 / p99 latency of both, and their
     ratios, and where the CPU went (server workers, the dedicated Redis, the client processes)
     per message;
  6. checks the bot really did the work: every respondent's last reply is the closing message
     (for voice: the closing words, then <Hangup/>), and the storage inbox holds exactly one
     sealed response and one sealed "completed" count per respondent (no batch runs meanwhile).

Everything it starts is stopped and its temporary files removed on the way out.
"""

from __future__ import annotations

import argparse
import http.client
import math
import multiprocessing
import os
import platform
import queue as queue_module
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `bot` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.services import (  # noqa: E402
    HOST,
    MAX_NUMBERS,
    STOP_TIMEOUT,
    bench_number,
    cpu_of,
    environment_without_settings,
    free_port,
    loadavg,
    start_redis,
    stop_process,
    tail,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

WEBHOOK_PATH = "/twilio/sms"
VOICE_PATH = "/twilio/voice"  # a call answered
GATHER_PATH = "/twilio/voice/gather"  # keys pressed after a prompt; ?n= numbers the step
CHANNELS = ("sms", "voice")
PUBLIC_BASE_URL = "https://bench.surveybot.invalid"
AIM = 0.4  # the target: at least 0.4 of the minimal endpoint's throughput
SERVER_START_TIMEOUT = 60.0

REQUEST_TIMEOUT = 30.0

WORKER_CLASS = "gthread"

# Request headers besides the signature, as Twilio sends them.
BASE_HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded",
    "User-Agent": "TwilioProxy/1.1",
    "Accept": "*/*",
}

# One request: (path with its query string, urlencoded form body, X-Twilio-Signature).
Request = tuple[str, bytes, str]


@dataclass(frozen=True)
class Unit:
    """How the output names one request: an SMS message, or one webhook request of a call."""

    noun: str  # table column: how many
    rate: str  # table column: how many per second
    short: str  # "CPU ms/<short>"
    one: str  # "CPU per <one>"


SMS_UNIT = Unit("messages", "msg/s", "msg", "message")
VOICE_UNIT = Unit("requests", "requests/s", "req", "request")


# ------------------------------------------------------------------------------- pure helpers


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is not between 0 and 100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def webhook_url(public_base_url: str = PUBLIC_BASE_URL) -> str:
    """The URL Twilio signs: the public base URL plus the webhook's path."""
    return public_base_url.rstrip("/") + WEBHOOK_PATH


def signed_request(validator: Any, url: str, sender: str, text: str) -> Request:
    """One inbound SMS as Twilio posts it (fresh MessageSid), with its signature."""
    from bot.channels.simulator import twilio_params

    params = twilio_params(sender, text)
    signature = validator.compute_signature(url, params)
    return WEBHOOK_PATH, urllib.parse.urlencode(params).encode(), signature


def build_requests(
    auth_token: str,
    script: Sequence[str],
    first: int,
    count: int,
    public_base_url: str = PUBLIC_BASE_URL,
) -> list[list[Request]]:
    """Signed requests of `count` respondents (numbers from `first` on), each texting `script`."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(auth_token)
    url = webhook_url(public_base_url)
    return [
        [signed_request(validator, url, bench_number(first + i), text) for text in script]
        for i in range(count)
    ]


def gather_url(n: int, public_base_url: str = PUBLIC_BASE_URL) -> str:
    """The action URL of a call's n-th <Gather> (n = 1 after the call starts), as bot.channels.voice
    writes it and Twilio signs it."""
    return f"{public_base_url.rstrip('/')}{GATHER_PATH}?n={n}"


def signed_call_request(validator: Any, url: str, params: dict[str, str]) -> Request:
    """One webhook request of a call, posted to `url` (absolute) and signed over it."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    signature = validator.compute_signature(url, params)
    return path, urllib.parse.urlencode(params).encode(), signature


def build_call_requests(
    auth_token: str,
    keys: Sequence[str],
    first: int,
    count: int,
    public_base_url: str = PUBLIC_BASE_URL,
) -> list[list[Request]]:
    """Signed requests of `count` calls (numbers from `first` on, a fresh CallSid each): the
    call answered, then one gather callback per entry of `keys` (a trailing # finishes it)."""
    from twilio.request_validator import RequestValidator

    from bot.channels.simulator import CallStatus, call_params, new_call_sid

    validator = RequestValidator(auth_token)
    start_url = public_base_url.rstrip("/") + VOICE_PATH
    calls = []
    for i in range(count):
        caller, sid = bench_number(first + i), new_call_sid()
        requests = [
            signed_call_request(
                validator, start_url, call_params(caller, sid, status=CallStatus.RINGING)
            )
        ]
        for n, pressed in enumerate(keys, start=1):
            params = call_params(
                caller,
                sid,
                status=CallStatus.IN_PROGRESS,
                digits=pressed.rstrip("#"),
                finished_on_key="#" if pressed.endswith("#") else "",
            )
            requests.append(signed_call_request(validator, gather_url(n, public_base_url), params))
        calls.append(requests)
    return calls


def call_script(questionnaire: Any, lang: str = "en") -> tuple[list[str], str]:
    """The keys of one complete call in `lang`, and the closing words the call ends with.

    Walks the pure conversation engine from a call answered: the language's menu key, "1" for
    consent, then option 1 of every question asked ("13#" for a multiple-choice question).
    """
    from bot.core.engine import Channel, Inbound, Signal, Stage, step
    from bot.core.questionnaire import QuestionType
    from bot.core.voice_prompts import prompt_speech, speak

    result = step(
        questionnaire, None, Inbound(text="", channel=Channel.VOICE, signal=Signal.CALL_START)
    )
    keys: list[str] = []
    for _ in range(4 * len(questionnaire.questions) + 4):  # bounded: one key per question
        session = result.session
        if session is None:
            break
        if session.stage is Stage.LANGUAGE:
            pressed = str(questionnaire.languages.index(lang) + 1)
        elif session.stage is Stage.CONSENT:
            pressed = "1"
        elif session.stage is Stage.QUESTION:
            question = questionnaire.question(session.question)
            if question.type is QuestionType.MULTI and len(question.options) >= 3:
                pressed = "13#"
            elif question.type is QuestionType.NUMBER:
                pressed = f"{question.minimum if question.minimum is not None else 1}#"
            else:
                pressed = "1"
        else:
            raise RuntimeError(f"the call script got stuck at stage {session.stage}")
        keys.append(pressed)
        inbound = Inbound(text="", channel=Channel.VOICE, keys=pressed)
        result = step(questionnaire, session, inbound)
    else:
        raise RuntimeError("the call script did not reach the end of the survey")
    closing = prompt_speech(questionnaire, "message.closing", lang)
    said = [speech.text for reply in result.replies for speech in speak(questionnaire, reply)]
    if not said or said[-1] != closing:
        raise RuntimeError("the call script does not end with the closing words")
    return keys, closing


def sms_ended(twiml: bytes, closing: str) -> bool:
    """Whether an SMS TwiML answer carries the closing message."""
    from bot.channels.simulator import parse_twiml

    try:
        texts = parse_twiml(twiml) if twiml else []
    except ET.ParseError:
        return False
    return any(closing in t for t in texts)


def call_ended(twiml: bytes, closing: str) -> bool:
    """Whether a call's TwiML answer says the closing words and then hangs up."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return False
    verbs = list(root)
    said = [verb.text or "" for verb in verbs if verb.tag == "Say"]
    return bool(verbs) and verbs[-1].tag == "Hangup" and any(closing in t for t in said)


def survey_script(questionnaire: Any, lang: str = "en") -> tuple[list[str], str]:
    """The texts of one complete survey in `lang`, and the closing message they end with.

    Walks the pure conversation engine: the start keyword, "1" for consent, then option 1 of
    every question asked ("1 3" for a multiple-choice question, to exercise that parser).
    """
    from bot.core.engine import Inbound, Stage, step
    from bot.core.questionnaire import QuestionType

    texts = [questionnaire.start_keywords[lang][0].upper()]
    result = step(questionnaire, None, Inbound(text=texts[0]))
    for _ in range(4 * len(questionnaire.questions) + 4):  # bounded: one text per question
        session = result.session
        if session is None:
            break
        if session.stage is Stage.CONSENT:
            text = "1"
        elif session.stage is Stage.QUESTION:
            question = questionnaire.question(session.question)
            if question.type is QuestionType.MULTI and len(question.options) >= 3:
                text = "1 3"
            elif question.type is QuestionType.NUMBER:
                text = str(question.minimum if question.minimum is not None else 1)
            else:
                text = "1"
        else:
            raise RuntimeError(f"the survey script got stuck at stage {session.stage}")
        texts.append(text)
        result = step(questionnaire, session, Inbound(text=text))
    else:
        raise RuntimeError("the survey script did not reach the end of the survey")
    closing = questionnaire.message("closing", lang)
    if not result.replies or result.replies[-1].text != closing:
        raise RuntimeError("the survey script does not end with the closing message")
    return texts, closing


@dataclass
class RunResult:
    """What one measured run produced."""

    name: str
    messages: int
    seconds: float
    latencies: list[float]
    last_replies: list[bytes]  # in respondent order
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by role, when known
    workers_cpu: list[float] = field(default_factory=list)  # each server worker's CPU seconds

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, p: float) -> float:
        """A latency percentile in milliseconds."""
        return percentile(self.latencies, p) * 1000


def merge_runs(name: str, runs: Sequence[RunResult]) -> RunResult:
    """Several measured runs of one server as one: summed messages, time and CPU."""
    cpu: dict[str, float] = {}
    for run in runs:
        for role, seconds in run.cpu.items():
            cpu[role] = cpu.get(role, 0.0) + seconds
    width = max((len(run.workers_cpu) for run in runs), default=0)
    workers_cpu = [
        sum(run.workers_cpu[i] for run in runs if i < len(run.workers_cpu)) for i in range(width)
    ]
    return RunResult(
        name=name,
        messages=sum(run.messages for run in runs),
        seconds=sum(run.seconds for run in runs),
        latencies=[x for run in runs for x in run.latencies],
        last_replies=[reply for run in runs for reply in run.last_replies],
        errors=[e for run in runs for e in run.errors],
        reconnects=sum(run.reconnects for run in runs),
        cpu=cpu,
        workers_cpu=workers_cpu,
    )


def split_rounds(items: Sequence[Any], rounds: int) -> list[list[Any]]:
    """`items` in `rounds` consecutive chunks of near-equal size (none empty)."""
    rounds = max(1, min(rounds, len(items)))
    size, extra = divmod(len(items), rounds)
    chunks, start = [], 0
    for i in range(rounds):
        end = start + size + (1 if i < extra else 0)
        chunks.append(list(items[start:end]))
        start = end
    return chunks


def format_table(results: Sequence[RunResult], unit: Unit = SMS_UNIT) -> str:
    """The results as a fixed-width table."""
    width = max(8, len(unit.rate))
    header = (
        f"{'server':<10} {unit.noun:>9} {'seconds':>8} {unit.rate:>{width}} {'p50 ms':>8}"
        f" {'p99 ms':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.name:<10} {r.messages:>9} {r.seconds:>8.2f} {r.rate:>{width}.1f}"
            f" {r.latency_ms(50):>8.2f} {r.latency_ms(99):>8.2f}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- load generator


def _post(
    conn: http.client.HTTPConnection, path: str, body: bytes, signature: str
) -> tuple[int, bytes]:
    conn.request("POST", path, body=body, headers={**BASE_HEADERS, "X-Twilio-Signature": signature})
    response = conn.getresponse()
    return response.status, response.read()


def _client_main(
    port: int,
    indexed: list[tuple[int, list[Request]]],
    barrier: Any,
    results: Any,
    connection_per_respondent: bool = True,
) -> None:
    """One client process: its respondents one after another, on keep-alive connections.

    With `connection_per_respondent`, each respondent's survey gets a fresh connection (opened
    inside the timed loop, as its first request's cost); otherwise one connection serves all.
    """
    latencies: list[float] = []
    last: list[tuple[int, bytes]] = []
    errors: list[str] = []
    reconnects = 0
    start = end = time.perf_counter()
    cpu_start = cpu_end = time.process_time()
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
        conn.connect()
        barrier.wait(timeout=SERVER_START_TIMEOUT)
        start = time.perf_counter()
        cpu_start = time.process_time()
        for n, (index, conversation) in enumerate(indexed):
            if connection_per_respondent and n:
                conn.close()  # the next request connects again
            reply = b""
            for path, body, signature in conversation:
                t0 = time.perf_counter()
                for attempt in range(2):  # one reconnect if the server closed the connection
                    try:
                        status, reply = _post(conn, path, body, signature)
                        break
                    except (http.client.RemoteDisconnected, ConnectionError):
                        conn.close()
                        if attempt:
                            raise
                        reconnects += 1
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors.append(f"respondent {index}: HTTP {status}")
            last.append((index, reply))
        end = time.perf_counter()
        cpu_end = time.process_time()
        conn.close()
    except Exception as exc:  # reported to the parent, which fails the run
        end = time.perf_counter()
        errors.append(f"client error: {type(exc).__name__}: {exc}")
        barrier.abort()
    results.put(
        {
            "latencies": latencies,
            "last": last,
            "errors": errors,
            "reconnects": reconnects,
            "start": start,
            "cpu": cpu_end - cpu_start,
            "end": end,
        }
    )


def run_load(
    name: str,
    port: int,
    respondents: list[list[Request]],
    clients: int,
    watch: dict[str, list[int]] | None = None,
    connection_per_respondent: bool = True,
) -> RunResult:
    """Send every respondent's requests from `clients` processes; time them.

    `watch` names server-side processes (role -> pids; children included) whose CPU time the
    run reports next to the clients' own.
    """
    watch = watch or {}
    ctx = multiprocessing.get_context("spawn")
    clients = max(1, min(clients, len(respondents)))
    barrier = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    indexed = list(enumerate(respondents))
    processes = [
        ctx.Process(
            target=_client_main,
            args=(port, indexed[i::clients], barrier, results, connection_per_respondent),
        )
        for i in range(clients)
    ]
    messages = sum(len(r) for r in respondents)
    collected: list[dict[str, Any]] = []
    errors: list[str] = []
    cpu_before: dict[str, dict[int, float]] = {}
    cpu: dict[str, float] = {}
    workers_cpu: list[float] = []
    for process in processes:
        process.start()
    try:
        try:
            cpu_before = {role: tree_cpu(pids) for role, pids in watch.items()}  # servers idle
            barrier.wait(timeout=SERVER_START_TIMEOUT)
        except threading.BrokenBarrierError:
            errors.append("a client process could not start")
        deadline = time.monotonic() + 60 + messages * REQUEST_TIMEOUT / max(1, clients) / 50
        while len(collected) < clients:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                errors.append(f"{clients - len(collected)} client process(es) did not finish")
                break
            try:
                collected.append(results.get(timeout=min(remaining, 5)))
            except queue_module.Empty:
                if not any(p.is_alive() for p in processes) and results.empty():
                    errors.append(f"{clients - len(collected)} client process(es) died")
                    break
        used = {
            role: cpu_used(cpu_before.get(role, {}), tree_cpu(pids)) for role, pids in watch.items()
        }
        cpu = {role: sum(per_pid.values()) for role, per_pid in used.items()}
        server_roots = set(watch.get("server", ()))
        workers_cpu = sorted(
            (s for pid, s in used.get("server", {}).items() if pid not in server_roots),
            reverse=True,
        )
    finally:
        for process in processes:
            process.join(timeout=STOP_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join(timeout=STOP_TIMEOUT)
    latencies = [x for c in collected for x in c["latencies"]]
    last = dict(pair for c in collected for pair in c["last"])
    starts = [c["start"] for c in collected]
    ends = [c["end"] for c in collected]
    return RunResult(
        name=name,
        messages=len(latencies),
        seconds=(max(ends) - min(starts)) if collected else 0.0,
        latencies=latencies or [0.0],
        last_replies=[last.get(i, b"") for i in range(len(respondents))],
        errors=errors + [e for c in collected for e in c["errors"]],
        reconnects=sum(c["reconnects"] for c in collected),
        cpu={**cpu, "clients": sum(c["cpu"] for c in collected)},
        workers_cpu=workers_cpu,
    )


# ---------------------------------------------------------------------------------- services


def tree_cpu(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds used so far by each of `pids` and their direct children (Linux /proc only)."""
    roots = set(pids)
    found: dict[int, float] = {}
    proc = Path("/proc")
    if not roots or not proc.is_dir():
        return found
    for entry in proc.iterdir():  # bounded: one pass over the process table
        if not entry.name.isdigit():
            continue
        try:
            parent, seconds = cpu_of((entry / "stat").read_text())
        except (OSError, IndexError, ValueError):
            continue
        if int(entry.name) in roots or parent in roots:
            found[int(entry.name)] = seconds
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    """CPU seconds each process used between two `tree_cpu` snapshots."""
    return {pid: seconds - before.get(pid, 0.0) for pid, seconds in after.items()}


def format_cpu_table(results: Sequence[RunResult], unit: Unit = SMS_UNIT) -> str:
    """CPU milliseconds per message by role (where the machine's time went)."""
    roles = [role for role in ("server", "redis", "clients") if any(role in r.cpu for r in results)]
    title = f"CPU ms/{unit.short}"
    header = f"{title:<10} " + " ".join(f"{role:>8}" for role in roles) + f" {'total':>8}"
    lines = [header, "-" * len(header)]
    for r in results:
        per = {role: 1000 * r.cpu.get(role, 0.0) / max(1, r.messages) for role in roles}
        cells = " ".join(f"{per[role]:>8.3f}" for role in roles)
        lines.append(f"{r.name:<10} {cells} {sum(per.values()):>8.3f}")
    return "\n".join(lines)


def gunicorn_options(workers: int, threads: int) -> list[str]:
    """Server settings, identical for the bot and the baseline (no access log by default)."""
    return [
        "--workers",
        str(workers),
        "--worker-class",
        WORKER_CLASS,
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--graceful-timeout",
        "5",
    ]


def start_gunicorn(
    target: str, options: list[str], env: dict[str, str], workdir: Path, label: str
) -> tuple[subprocess.Popen, int, Path]:
    """gunicorn serving `target` on a free 127.0.0.1 port; waits until it answers HTTP."""
    port = free_port()
    log = workdir / f"gunicorn-{label}.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        *options,
        "--bind",
        f"{HOST}:{port}",
        "--error-logfile",
        "-",  # stderr, which goes to `log` with the app's own output (tracebacks)
        "--pythonpath",
        str(REPO_ROOT),
        target,
    ]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn ({label}) exited: {tail(log)}")
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
            return process, port, log
        except OSError:
            if time.monotonic() > deadline:
                stop_process(process)
                raise RuntimeError(f"gunicorn ({label}) did not answer in time") from None
            time.sleep(0.1)
        finally:
            conn.close()


def app_environment(redis_url: str, workdir: Path, secrets_: dict[str, str]) -> dict[str, str]:
    """The bot's environment: production, with every setting it needs and nothing inherited."""
    env = environment_without_settings()
    env.update(
        SURVEYBOT_ENV="production",
        REDIS_URL=redis_url,
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",  # the webhook never uses it
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        INSTANCE_PATH=str(workdir / "instance"),
        TRUST_PROXY="0",
        SIMULATOR_ENABLED="0",
        TWILIO_DELETE_MESSAGES="0",
        **secrets_,
    )
    return env


# -------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--channel",
        choices=CHANNELS,
        default="sms",
        help="sms: each respondent texts the survey; voice: each places a whole call (default: "
        "%(default)s)",
    )
    parser.add_argument("--respondents", type=int, default=1000, help="measured respondents")
    parser.add_argument("--clients", type=int, default=4, help="client processes (connections)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument(
        "--warmup", type=int, default=None, help="warm-up respondents per server (default 10%%)"
    )
    parser.add_argument(
        "--redis-url",
        default="",
        help="use this Redis instead of a dedicated one (its database must be empty, or --flush)",
    )
    parser.add_argument(
        "--flush", action="store_true", help="allow flushing a non-empty --redis-url database"
    )
    parser.add_argument(
        "--one-connection",
        action="store_true",
        help="each client keeps one connection for the whole run (default: a fresh keep-alive "
        "connection per respondent; gunicorn never rebalances a persistent connection, so a few "
        "long ones can all land on one worker)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="measure in this many alternating rounds (respondents split among them)",
    )
    parser.add_argument(
        "--app",
        default="bot:create_app()",
        help="gunicorn app spec of the bot (default: %(default)s); e.g. a module on PYTHONPATH "
        "that builds a patched app, to measure a change before making it",
    )
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    parser.add_argument(
        "--fail-below", type=float, default=None, help="exit 1 if the throughput ratio is lower"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.respondents = min(args.respondents, 12)
        args.clients = min(args.clients, 2)
        args.warmup = 2 if args.warmup is None else args.warmup
        args.rounds = min(args.rounds, 2)
    if args.warmup is None:
        args.warmup = max(args.clients, args.respondents // 10)
    for name in ("respondents", "clients", "workers", "threads", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0 or args.respondents + args.warmup > MAX_NUMBERS:
        parser.error(f"--respondents + --warmup must be at most {MAX_NUMBERS}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from redis import Redis

    from bot.core.questionnaire import load_questionnaire
    from bot.infra import keys
    from bot.infra.defaults import DEFAULT_WAVE
    from bot.records import inbox

    voice = args.channel == "voice"
    unit = VOICE_UNIT if voice else SMS_UNIT
    secrets_ = {
        name: secrets.token_hex(24) for name in ("SECRET_KEY", "PSEUDONYM_KEY", "TWILIO_AUTH_TOKEN")
    }
    from bot.infra.sealing import generate_storage_keys

    secrets_["STORAGE_PUBLIC_KEY"], secrets_["STORAGE_SECRET_KEY"] = generate_storage_keys()
    token = secrets_["TWILIO_AUTH_TOKEN"]
    if voice:
        script, closing = call_script(load_questionnaire())
        measured = build_call_requests(token, script, 0, args.respondents)
        warmup = build_call_requests(token, script, args.respondents, args.warmup)
    else:
        script, closing = survey_script(load_questionnaire())
        measured = build_requests(token, script, 0, args.respondents)
        warmup = build_requests(token, script, args.respondents, args.warmup)

    workdir = Path(tempfile.mkdtemp(prefix="surveybot-bench-"))
    redis_process: subprocess.Popen | None = None
    servers: list[subprocess.Popen] = []
    redis_client: Redis | None = None
    try:
        if args.redis_url:
            redis_url = args.redis_url
            redis_where = redis_url
        else:
            redis_process, redis_url = start_redis(workdir)
            redis_where = f"dedicated, {redis_url}, no persistence"
        redis_client = Redis.from_url(redis_url)
        if args.redis_url and redis_client.dbsize() and not args.flush:
            print(f"FAIL: {redis_url} is not empty; pass --flush to let the benchmark empty it")
            return 2
        redis_client.flushdb()
        redis_version = redis_client.info("server").get("redis_version", "?")

        options = gunicorn_options(args.workers, args.threads)
        app_env = app_environment(redis_url, workdir, secrets_)
        app_process, app_port, app_log = start_gunicorn(args.app, options, app_env, workdir, "app")
        servers.append(app_process)
        minimal_process, minimal_port, _ = start_gunicorn(
            "bench.minimal_app:app", options, dict(os.environ), workdir, "minimal"
        )
        servers.append(minimal_process)

        import gunicorn

        print("surveybot webhook benchmark" + (" (phone channel)" if voice else ""))
        print(
            f"  machine: {os.cpu_count()} CPUs ({platform.machine()}), Python "
            f"{platform.python_version()}, gunicorn {gunicorn.__version__}, Redis {redis_version}"
            f" ({redis_where})"
        )
        print(f"  server (both): gunicorn {' '.join(options)}, 127.0.0.1, access log off")
        print(f"  app: {args.app} (SURVEYBOT_ENV=production); minimal: bench.minimal_app:app")
        print(
            f"  load: {args.clients} client processes, each sending one request at a time on "
            + (
                "one keep-alive connection for the whole run; "
                if args.one_connection
                else "a keep-alive connection per respondent; "
            )
            + (
                f"{args.respondents} respondents x one call of {len(script) + 1} requests "
                f"(call start / keys {' / '.join(script)}), "
                if voice
                else f"{args.respondents} respondents x {len(script)} messages "
                f"({' / '.join(script)}), "
            )
            + f"warm-up {args.warmup} respondents per server, measured "
            f"in {min(args.rounds, args.respondents)} alternating rounds"
        )
        print(
            "  requests: built and signed (X-Twilio-Signature"
            + (" over the absolute URL, ?n= included" if voice else "")
            + ") before the timed loop; the same bytes go to both servers"
        )
        print(
            "  note: the load generator shares the CPUs with the servers and Redis; "
            f"load average before the run: {loadavg()}"
        )
        print()

        # Each server is warmed up on its own respondents (not measured, not checked).
        redis_pids = [redis_process.pid] if redis_process else []
        minimal_watch = {"server": [minimal_process.pid], "redis": redis_pids}
        app_watch = {"server": [app_process.pid], "redis": redis_pids}
        if not redis_pids:  # an outside Redis: its CPU is not ours to measure
            del minimal_watch["redis"], app_watch["redis"]
        per_respondent = not args.one_connection
        run_load("warm-up", minimal_port, warmup, args.clients, None, per_respondent)
        warm = run_load("warm-up", app_port, warmup, args.clients, None, per_respondent)
        redis_client.flushdb()  # only the measured respondents' jobs and counters remain
        # Alternate the two servers in rounds (ABBA...), so a drift in what else the machine
        # does weighs on both alike; each round's respondents go to both servers.
        app_runs: list[RunResult] = []
        minimal_runs: list[RunResult] = []
        for i, chunk in enumerate(split_rounds(measured, args.rounds)):
            order = ["minimal", "app"] if i % 2 == 0 else ["app", "minimal"]
            for which in order:
                if which == "app":
                    app_runs.append(
                        run_load("app", app_port, chunk, args.clients, app_watch, per_respondent)
                    )
                else:
                    minimal_runs.append(
                        run_load(
                            "minimal",
                            minimal_port,
                            chunk,
                            args.clients,
                            minimal_watch,
                            per_respondent,
                        )
                    )
        app = merge_runs("app", app_runs)
        minimal = merge_runs("minimal", minimal_runs)

        print(format_table([app, minimal], unit))
        print(f"(load average after the run: {loadavg()})")
        print()
        print(format_cpu_table([app, minimal], unit))
        for r in (app, minimal):
            if r.workers_cpu:
                split = " / ".join(f"{s:.2f}" for s in r.workers_cpu)
                print(f"{r.name} server CPU by worker (s): {split}")
        print()
        ratio = app.rate / minimal.rate if minimal.rate else 0.0
        print(
            f"ratio (app / minimal) throughput: {ratio:.2f}  (aim >= {AIM}: "
            f"{'met' if ratio >= AIM else 'NOT met'})"
        )
        print(
            f"ratio (app / minimal) latency: p50 {app.latency_ms(50) / minimal.latency_ms(50):.2f}x"
            f", p99 {app.latency_ms(99) / minimal.latency_ms(99):.2f}x"
        )
        app_cpu = sum(app.cpu.values()) / max(1, app.messages)
        minimal_cpu = sum(minimal.cpu.values()) / max(1, minimal.messages)
        if app_cpu > 0 and minimal_cpu > 0:
            # When both runs keep the CPUs busy, throughput goes as 1 / CPU per message; this
            # figure moves less than the throughput ratio when other work shares the machine.
            print(
                f"ratio (minimal / app) CPU per {unit.one}: {minimal_cpu / app_cpu:.2f}  "
                "(the throughput ratio when both saturate the CPUs; steadier on a busy machine)"
            )

        # Correctness: the bot must have done the work the figures claim.
        problems = [f"warm-up: {e}" for e in warm.errors[:5]]
        problems += [f"app: {e}" for e in app.errors[:5]]
        problems += [f"minimal: {e}" for e in minimal.errors[:5]]
        ended = call_ended if voice else sms_ended
        unfinished = sum(not ended(reply, closing) for reply in app.last_replies)
        if unfinished:
            problems.append(
                f"{unfinished} calls' last answer is not the closing words and <Hangup/>"
                if voice
                else f"{unfinished} respondents' last reply is not the closing message"
            )
        records = [
            inbox.open_record(secrets_["STORAGE_SECRET_KEY"], raw)
            for raw in redis_client.smembers(keys.STORAGE_INBOX)
        ]
        jobs = sum(r["kind"] == inbox.RESPONSE for r in records)
        completed = sum(
            r["kind"] == inbox.COUNT and r["wave"] == DEFAULT_WAVE and r["field"] == "completed"
            for r in records
        )
        finished = len(app.last_replies) - unfinished
        print(
            (
                f"check: {args.respondents} calls, {finished} ended with the closing words and "
                "<Hangup/>, "
                if voice
                else f"check: {args.respondents} respondents, {finished} got the closing message, "
            )
            + f"{completed} completed surveys counted, {jobs} sealed responses waiting"
            + (
                f", {app.reconnects + minimal.reconnects} reconnects"
                if app.reconnects or minimal.reconnects
                else ""
            )
        )
        if completed != args.respondents or jobs != args.respondents:
            problems.append(
                f"expected {args.respondents} completed surveys and sealed responses, "
                f"got {completed} and {jobs}"
            )
        if problems:
            for problem in problems:
                print(f"FAIL: {problem}")
            if any(p.startswith(("app", "warm")) for p in problems):
                print(f"app server log (last lines):\n{tail(app_log)}")
            return 1
        print("check: OK")
        if args.fail_below is not None and ratio < args.fail_below:
            print(f"FAIL: throughput ratio {ratio:.2f} is below {args.fail_below}")
            return 1
        return 0
    except RuntimeError as exc:  # a server that would not start, or a broken survey script
        print(f"FAIL: {exc}")
        return 1
    finally:
        if redis_client is not None:
            redis_client.close()
        for process in servers:
            stop_process(process)
        stop_process(redis_process)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
