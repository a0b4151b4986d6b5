"""A Redis server of a test's own, to take down: the shared test Redis must stay up."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

START_TIMEOUT = 10.0


def closed_port() -> int:
    """A local TCP port nothing listens on (free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A `redis-server` process on a free local port: with no persistence, or (`persistent`)
    as the README asks production to run it, `appendonly yes`, so tests can scan its files.
    Strings are not compressed in its snapshots (`rdbcompression no`), so a scan of the files
    sees every value as written."""

    def __init__(
        self, folder: Path, *, persistent: bool = False, extra: tuple[str, ...] = ()
    ) -> None:
        self.folder = folder
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.port = closed_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        if persistent:
            argv += ["--appendonly", "yes", "--appendfsync", "always", "--rdbcompression", "no"]
            argv += ["--save", "", "--dir", str(folder)]
        else:
            argv += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
        self.argv = [*argv, *extra]  # e.g. ("--maxmemory", "4mb")
        self.process = self._start()

    def _start(self) -> subprocess.Popen:
        process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.process = process
        self._wait_until_up()
        return process

    def restart(self) -> None:
        """Start it again on the same port, after `stop` (persistent: from its files)."""
        self.stop()
        self._start()

    def _wait_until_up(self) -> None:
        client = Redis.from_url(self.url)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                try:
                    client.ping()
                    return
                except RedisConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        pytest.fail(f"redis-server did not start on port {self.port}")
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Take the server down (SIGTERM, then wait): its port refuses connections after."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=START_TIMEOUT)

    def persisted_files(self) -> list[Path]:
        """Every file Redis keeps on disk: the append-only files (base and increments) and any
        snapshot."""
        return sorted(p for p in self.folder.rglob("*") if p.is_file())

    def wait_for_rewrite(self) -> None:
        """Until a requested append-only file rewrite has finished."""
        client = Redis.from_url(self.url)
        deadline = time.monotonic() + START_TIMEOUT * 3
        try:
            while True:
                info = client.info("persistence")
                if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                    return
                if time.monotonic() > deadline:
                    pytest.fail("Redis did not finish rewriting its append-only file")
                time.sleep(0.05)
        finally:
            client.close()


@contextmanager
def redis_server(
    folder: Path, *, persistent: bool = False, extra: tuple[str, ...] = ()
) -> Iterator[RedisServer]:
    """A Redis server of this test's own, stopped on the way out whatever happened."""
    server = RedisServer(folder, persistent=persistent, extra=extra)
    try:
        yield server
    finally:
        server.stop()
