"""Slow clients: does the SMS webhook keep answering Twilio while clients trickle their bodies?

Run:  python bench/slow_clients.py                 (64 slow clients, 20 s each phase)
      python bench/slow_clients.py --slow 128 --seconds 30

gunicorn's `gthread` worker (the Procfile's) hands a connection to a thread as soon as it is
readable, and the thread then blocks reading the body: a client that sends its body a byte a
second holds a thread for as long as it likes. Two workers of eight threads are held by sixteen
such clients, and Twilio's webhook waits behind them past its 15-second timeout. The README's
production front, nginx with request buffering, reads each body whole before passing it on.

What it does, in one run:
  1. starts a dedicated redis-server and gunicorn with the Procfile's worker settings (two
     `gthread` workers of eight threads, production settings), and nginx (Debian's
     /usr/sbin/nginx) with the server block the README gives under "The front", its only
     changes the listening port and the upstream's address (`front_config`);
  2. for each target (gunicorn reached directly, then through nginx), first with no slow
     client (the baseline), then with --slow clients that each open a connection, announce a
     1,000-byte body and send one byte every second: sends a signed text (a respondent starting
     the survey, a fresh number each time) every 0.25 s for --seconds and waits for each answer
     up to Twilio's 15 s;
  3. prints per phase: texts sent, answered with TwiML within 15 s, timed out, and p50 / max
     latency, with the ratio of p50 to the same target's baseline.

Everything it starts is stopped and its temporary files removed on the way out.
"""

from __future__ import annotations

import argparse
import http.client
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/slow_clients.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.services import HOST, bench_number, free_port, start_redis, stop_process, tail  # noqa: E402
from bench.webhook import (  # noqa: E402
    PUBLIC_BASE_URL,
    WEBHOOK_PATH,
    app_environment,
    gunicorn_options,
    signed_request,
    start_gunicorn,
    webhook_url,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
NGINX = "/usr/sbin/nginx"
TWILIO_TIMEOUT = 15.0  # Twilio gives up on a webhook after 15 s
SLOW_BODY_BYTES = 1000
PROBE_EVERY = 0.25
START_TIMEOUT = 20.0


# ------------------------------------------------------------------------------ the front


def readme_front_block(readme: Path = README) -> str:
    """The nginx configuration the README gives under "The front", exactly as written."""
    text = readme.read_text(encoding="utf-8")
    section = text.split("### The front", 1)[1]
    match = re.search(r"```nginx\n(.*?)```", section, re.S)
    if match is None:
        raise RuntimeError("README.md has no ```nginx block under 'The front'")
    return match.group(1)


def front_config(block: str, *, listen_port: int, upstream_port: int, prefix: Path) -> str:
    """A whole nginx.conf around the README's block: the block's only changes are where it
    listens (plain HTTP on a local port instead of 443 with TLS) and where gunicorn is."""
    listen = re.sub(r"listen\s+443\s+ssl;", f"listen {HOST}:{listen_port};", block)
    server = listen.replace("server 127.0.0.1:8000;", f"server {HOST}:{upstream_port};")
    if listen == block or server == listen:
        raise RuntimeError("the README's nginx block no longer has the lines this bench adapts")
    temp = prefix / "temp"
    temp.mkdir(parents=True, exist_ok=True)
    return "\n".join(
        [
            "worker_processes 1;",
            f"pid {prefix / 'nginx.pid'};",
            f"error_log {prefix / 'error.log'} warn;",
            "events { worker_connections 1024; }",
            "http {",
            "    access_log off;",
            f"    client_body_temp_path {temp / 'body'};",
            f"    proxy_temp_path {temp / 'proxy'};",
            f"    fastcgi_temp_path {temp / 'fastcgi'};",
            f"    uwsgi_temp_path {temp / 'uwsgi'};",
            f"    scgi_temp_path {temp / 'scgi'};",
            server,
            "}",
        ]
    )


def nginx_available() -> bool:
    return Path(NGINX).exists() or shutil.which("nginx") is not None


@contextmanager
def nginx_front(upstream_port: int, workdir: Path) -> Iterator[int]:
    """nginx running the README's front before gunicorn at `upstream_port`; yields its port."""
    binary = NGINX if Path(NGINX).exists() else shutil.which("nginx")
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
    prefix = workdir / "nginx"
    prefix.mkdir(exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(
        front_config(readme_front_block(), listen_port=port, upstream_port=upstream_port,
                     prefix=prefix)
    )  # fmt: skip
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process, prefix / "error.log")
        yield port
    finally:
        stop_process(process)


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {tail(log)}")
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not listen in time") from None
            time.sleep(0.05)


# --------------------------------------------------------------------------- slow clients


class SlowClients:
    """`count` connections that each announce a body and send it one byte every `interval`
    seconds, from one thread, until stopped (or the server closes them)."""

    def __init__(self, port: int, count: int, interval: float = 1.0) -> None:
        self.port, self.count, self.interval = port, count, interval
        self.sockets: list[socket.socket] = []
        self.sent = [0] * count
        self.closed = [False] * count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, name="slow-clients", daemon=True)

    def start(self) -> SlowClients:
        head = (
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {SLOW_BODY_BYTES}\r\n\r\n"
        ).encode()
        for _ in range(self.count):
            sock = socket.create_connection((HOST, self.port), timeout=5)
            sock.sendall(head)
            self.sockets.append(sock)
        self._thread.start()
        return self

    def _trickle(self) -> None:
        while not self._stop.is_set():
            for i, sock in enumerate(self.sockets):
                if self.closed[i] or self.sent[i] >= SLOW_BODY_BYTES - 1:
                    continue  # never the last byte: the request stays unfinished
                try:
                    sock.sendall(b"a")
                    self.sent[i] += 1
                except OSError:
                    self.closed[i] = True
            self._stop.wait(self.interval)

    def unfinished(self) -> int:
        """How many are still connected, their bodies not yet whole."""
        return sum(1 for i in range(self.count) if not self.closed[i])

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


@contextmanager
def slow_clients(port: int, count: int) -> Iterator[SlowClients | None]:
    if count == 0:
        yield None
        return
    clients = SlowClients(port, count).start()
    try:
        yield clients
    finally:
        clients.stop()


# ----------------------------------------------------------------------------- the probes


@dataclass
class Phase:
    target: str
    slow: int
    latencies: list[float] = field(default_factory=list)
    timed_out: int = 0
    errors: int = 0
    still_slow: int = 0  # slow clients still unfinished when the phase ended

    @property
    def sent(self) -> int:
        return len(self.latencies) + self.timed_out + self.errors

    def p50(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[len(ordered) // 2] if ordered else float("nan")


def post_text(port: int, validator, index: int, text: str = "SURVEY") -> tuple[int, bytes]:  # noqa: ANN001
    """One signed text to the webhook at `port`, waited for as long as Twilio waits."""
    path, body, signature = signed_request(validator, webhook_url(), bench_number(index), text)
    conn = http.client.HTTPConnection(HOST, port, timeout=TWILIO_TIMEOUT)
    try:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def probe(port: int, validator, phase: Phase, seconds: float, first: int) -> int:  # noqa: ANN001
    """Signed texts every PROBE_EVERY seconds for `seconds`, each from a new number."""
    index = first
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            status, body = post_text(port, validator, index)
            if status == 200 and b"<Message>" in body:
                phase.latencies.append(time.monotonic() - started)
            else:
                phase.errors += 1
        except TimeoutError:
            phase.timed_out += 1
        except OSError:
            phase.errors += 1
        index += 1
        time.sleep(max(0.0, PROBE_EVERY - (time.monotonic() - started)))
    return index


def format_table(phases: Sequence[Phase]) -> str:
    baseline = {p.target: p.p50() for p in phases if p.slow == 0}
    lines = [
        f"{'target':<16} {'slow':>5} {'texts':>6} {'answered':>9} {'timed out':>10} "
        f"{'errors':>7} {'p50 ms':>8} {'max ms':>8} {'p50/base':>9} {'slow left':>10}"
    ]
    for p in phases:
        worst = max(p.latencies) * 1000 if p.latencies else float("nan")
        ratio = p.p50() / baseline[p.target] if p.latencies and baseline.get(p.target) else 0
        lines.append(
            f"{p.target:<16} {p.slow:>5} {p.sent:>6} {len(p.latencies):>9} {p.timed_out:>10} "
            f"{p.errors:>7} {p.p50() * 1000:>8.1f} {worst:>8.1f} {ratio:>8.1f}x "
            f"{p.still_slow:>10}"
        )
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=64, help="slow clients (default: 64)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (Procfile: 2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (Procfile: 8)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from twilio.request_validator import RequestValidator

    from bot.infra.sealing import generate_storage_keys

    if not nginx_available():
        print("FAIL: nginx is not installed (apt-get install nginx-light)")
        return 2
    secrets_ = {n: secrets.token_hex(24) for n in ("SECRET_KEY", "PSEUDONYM_KEY")}
    secrets_["TWILIO_AUTH_TOKEN"] = secrets.token_hex(16)
    secrets_["STORAGE_PUBLIC_KEY"], secrets_["STORAGE_SECRET_KEY"] = generate_storage_keys()
    validator = RequestValidator(secrets_["TWILIO_AUTH_TOKEN"])
    workdir = Path(tempfile.mkdtemp(prefix="surveybot-slow-"))
    redis_process = app = None
    phases: list[Phase] = []
    try:
        redis_process, redis_url = start_redis(workdir)
        env = app_environment(redis_url, workdir, secrets_)
        env["TRUST_PROXY"] = "1"  # as the README sets it behind nginx
        options = gunicorn_options(args.workers, args.threads)
        app, app_port, _ = start_gunicorn("bot:create_app()", options, env, workdir, "app")
        print(f"gunicorn {' '.join(options)} on {HOST}:{app_port}; public URL {PUBLIC_BASE_URL}")
        with nginx_front(app_port, workdir) as front_port:
            print(f"nginx (the README's front) on {HOST}:{front_port}")
            index = 0
            for target, port in (("gunicorn direct", app_port), ("nginx front", front_port)):
                for slow in (0, args.slow):
                    phase = Phase(target, slow)
                    with slow_clients(port, slow) as clients:
                        time.sleep(1.5 if clients else 0)  # every slow body under way
                        index = probe(port, validator, phase, args.seconds, index)
                        phase.still_slow = clients.unfinished() if clients else 0
                    phases.append(phase)
                    print(f"  {target}, {slow} slow clients: {len(phase.latencies)} answered")
                    time.sleep(2)  # let the held threads go before the next phase
    finally:
        stop_process(app)
        stop_process(redis_process)
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"{args.slow} slow clients, a signed text every {PROBE_EVERY} s for {args.seconds} s, "
          f"each waited for up to {TWILIO_TIMEOUT:.0f} s (Twilio's timeout)")  # fmt: skip
    print(format_table(phases))
    behind_front = [p for p in phases if p.target == "nginx front"]
    if any(p.timed_out or p.errors for p in behind_front):
        print("FAIL: behind the README's front, a text was not answered in time")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
