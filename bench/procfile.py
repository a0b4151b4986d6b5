"""Production's process model for a run of its own: the Procfile's command lines, a redis-server
with AOF (`appendfsync everysec`) and, when asked, a PostgreSQL cluster of the run's own.

Shared by the Procfile smoke test (scripts/smoke_procfile.py) and the fault harness
(bench/faults.py): both start `release`, `web` (gunicorn), two `worker`s (forking RQ workers) and
`cron` exactly as the Procfile writes them, in production mode with real-looking secrets, and
send signed texts as Twilio does.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bench.services import free_port, redis_server_binary

REPO = Path(__file__).resolve().parent.parent
PROCFILE = REPO / "Procfile"
SURVEY = REPO / "bot" / "surveys" / "community_safety.yaml"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
ACCOUNT_SID = "AC" + "0" * 32
BOT_NUMBER = "+13055550000"

T = TypeVar("T")


class StackError(RuntimeError):
    """A process of the stack did not start, answer or stop as it should."""


def procfile() -> dict[str, str]:
    """The Procfile's process types and their command lines."""
    lines = [line.strip() for line in PROCFILE.read_text().splitlines()]
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))


def wait_for(what: str, check: Callable[[], T], timeout: float, every: float = 0.5) -> T:
    """`check()`'s first true result, asked every `every` s; StackError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise StackError(f"timed out waiting for {what}")
        time.sleep(every)


class AofRedis:
    """A redis-server of this run's own, persistent as production's (AOF, everysec); it can
    be SIGKILLed and started again on the same port from its files."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.argv = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                     "--dir", str(workdir), "--appendonly", "yes", "--appendfsync", "everysec",
                     "--save", "", "--logfile", str(workdir / "redis.log")]  # fmt: skip
        self.process: subprocess.Popen | None = None
        self.start()

    def client(self, **options: Any):  # noqa: ANN201 - redis.Redis
        """A client of this server (the caller closes it)."""
        from redis import Redis

        return Redis.from_url(self.url, **options)

    def answers(self) -> bool:
        """Whether the server answers PING (done loading its AOF)."""
        from redis.exceptions import RedisError

        try:
            with self.client(socket_timeout=1) as client:
                return bool(client.ping())
        except RedisError:
            return False

    def start(self) -> None:
        """Start the server (from its AOF if it has one) and wait until it answers."""
        self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL)
        wait_for("redis-server to answer", self.answers, START_TIMEOUT, every=0.05)

    def kill(self) -> None:
        """SIGKILL: what a crash or an out-of-memory kill does."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=STOP_TIMEOUT)


class PostgresCluster:
    """A PostgreSQL cluster of this run's own (initdb, pg_ctl) on a free port, so it can be
    stopped and started again. initdb refuses root: as root it runs as the `postgres` user."""

    def __init__(self) -> None:
        self.bindir = self.find_bindir()
        if self.bindir is None:
            raise StackError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="surveybot-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, user="postgres", group="postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        self.start()

    @staticmethod
    def find_bindir() -> Path | None:
        """Where initdb and pg_ctl are: Debian's /usr/lib/postgresql/N/bin, else the PATH."""
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
        if found:
            return Path(found[-1]).parent
        pg_ctl = shutil.which("pg_ctl")
        return Path(pg_ctl).parent if pg_ctl else None

    def _run(self, program: str, *argv: str) -> None:
        result = subprocess.run(
            [*self.prefix, str(self.bindir / program), *argv], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise StackError(f"{program} exited {result.returncode}: {result.stderr[-1500:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.folder} -c fsync=on")  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        """Stop it as an outage does: connections cut (`-m fast`)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def create_database(self, name: str) -> str:
        """A new empty database on the cluster; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        """Stop the cluster if it runs and delete its files."""
        try:
            self.stop()
        except StackError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.parent.name)
    except ValueError:
        return 0.0


def empty_database(url: str) -> None:
    """Drop every table of an existing PostgreSQL database (its public schema), so that
    `release` builds the schema from nothing."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
        connection.execute("CREATE SCHEMA public")


def finished_questionnaire(workdir: Path) -> Path:
    """The shipped questionnaire with its placeholders replaced, as an organizer leaves it
    (production refuses to open a wave that still has them)."""
    import yaml

    data = yaml.safe_load(SURVEY.read_text(encoding="utf-8"))
    data["resources"] = {"org": "Smoke Test Coalition", "hotline": "1-305-555-0100"}
    path = workdir / "survey.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def production_env(*, workdir: Path, redis_url: str, database_url: str) -> dict[str, str]:
    """The environment of the Procfile's processes: production mode, fresh real-looking
    secrets and storage keys, a public URL on a free local port, this run's services."""
    from bot.infra.sealing import generate_storage_keys

    port = free_port()
    public_key, secret_key = generate_storage_keys()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "TWILIO_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        SURVEYBOT_ENV="production",
        REDIS_URL=redis_url,
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_hex(32),
        PSEUDONYM_KEY=secrets.token_hex(32),
        STORAGE_PUBLIC_KEY=public_key,
        STORAGE_SECRET_KEY=secret_key,
        TWILIO_AUTH_TOKEN=secrets.token_hex(16),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        SURVEY_FILE=str(finished_questionnaire(workdir)),
        INSTANCE_PATH=str(workdir / "instance"),
        PORT=str(port),
        WEB_CONCURRENCY="2",
        SIMULATOR_ENABLED="0",
        # Production waits for 20 records and 6 hours; here every cron check closes a batch.
        BATCH_MIN_SIZE="1",
        BATCH_MIN_HOURS="0",
    )
    return env


class Processes:
    """The Procfile's processes, each in a session (process group) of its own, logging to a
    file of the work directory."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.commands = procfile()
        self.children: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.base = env["PUBLIC_BASE_URL"]

    def run(self, *argv: str) -> str:
        """A one-off command (release, `surveybot wave ...`); its output, or StackError."""
        result = subprocess.run(argv, env=self.env, cwd=self.workdir, capture_output=True,
                                text=True)  # fmt: skip
        if result.returncode != 0:
            raise StackError(f"`{' '.join(argv)}` exited {result.returncode}: "
                             f"{result.stderr[-2000:]}")  # fmt: skip
        return result.stdout

    def release(self) -> None:
        """The Procfile's `release` line: the schema migration."""
        self.run("bash", "-c", self.commands["release"])

    def start(self, name: str) -> None:
        """Start process `name` ("web", "worker.1", "cron") from its Procfile line."""
        kind = name.split(".")[0]
        self.logs[name] = self.workdir / f"{name}.log"
        with self.logs[name].open("a") as log:  # the child keeps its own copy
            self.children[name] = subprocess.Popen(
                ["bash", "-c", f"exec {self.commands[kind]}"],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_all(self, workers: int = 2) -> None:
        """web, `workers` workers and cron; returns once gunicorn answers /healthz."""
        self.start("web")
        for n in range(1, workers + 1):
            self.start(f"worker.{n}")
        self.start("cron")
        wait_for("gunicorn to answer /healthz", self.web_answers, START_TIMEOUT)

    def web_answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def pid(self, name: str) -> int:
        return self.children[name].pid

    def kill_group(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process's whole group (a worker with its work horse and scheduler)."""
        child = self.children[name]
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL:
            child.wait(timeout=STOP_TIMEOUT)

    def stop_all(self) -> list[str]:
        """SIGTERM to every process group, SIGKILL after STOP_TIMEOUT; the names of those
        that had to be killed."""
        for child in self.children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        stuck = []
        for name, child in self.children.items():
            try:
                child.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=STOP_TIMEOUT)
                stuck.append(name)
        for child in self.children.values():  # a group's leftovers (a scheduler, a horse)
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return stuck

    def log_text(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")


class Bot:
    """The web process as Twilio reaches it: signed form posts to the public URL."""

    def __init__(self, base: str, token: str) -> None:
        from twilio.request_validator import RequestValidator

        self.base = base
        self.validator = RequestValidator(token)
        self.sent = 0

    @staticmethod
    def form(sender: str, body: str, sid: str | None = None) -> dict[str, str]:
        """A text's parameters as Twilio sends them: both SID names, agreeing
        (bot/channels/twilio_form.py)."""
        sid = sid or "SM" + secrets.token_hex(16)
        return {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "From": sender,
                "To": BOT_NUMBER, "Body": body, "NumMedia": "0"}  # fmt: skip

    def post(self, path: str, params: dict[str, str], timeout: float = 15) -> tuple[int, bytes]:
        """POST a signed form; (HTTP status, body). Connection errors propagate (OSError)."""
        url = f"{self.base}{path}"
        request = urllib.request.Request(
            url,
            data=urllib.parse.urlencode(params).encode(),
            headers={"X-Twilio-Signature": self.validator.compute_signature(url, params)},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def text(self, sender: str, body: str) -> list[str]:
        """Text the bot once; its replies (StackError unless it answers 200)."""
        self.sent += 1
        status, content = self.post("/twilio/sms", self.form(sender, body))
        if status != 200:
            raise StackError(f"the webhook answered {status}: {content[:200]!r}")
        return replies(content)


def replies(twiml: bytes) -> list[str]:
    """The texts of a TwiML answer's <Message>s."""
    return [m.text or "" for m in ET.fromstring(twiml).iter("Message")]
