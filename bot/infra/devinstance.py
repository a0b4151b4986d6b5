"""The local instance `surveybot dev` runs in a folder, as other commands find it.

While `surveybot dev` runs it holds a lock on `instance/dev.lock` and keeps the settings it
chose (its embedded Redis, its SQLite database, its development secrets) in
`instance/dev-settings.env`. Every other `surveybot` command started in the same folder reads
that file while the lock is held, so `surveybot user create`, `wave invite` or `report send` in
a second terminal work on the same database, the same Redis and the same pseudonym key as the
running bot. Settings in the environment or `.env` still win. A file left by an instance that
is no longer running is ignored: the lock, not the file, says whether the instance is there.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

LOCK_FILE = "dev.lock"
SETTINGS_FILE = "dev-settings.env"


class InstanceBusy(Exception):
    """Another `surveybot dev` already runs in this instance folder."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder  # "pid 1234, http://127.0.0.1:5000" as that instance wrote it


@dataclass(frozen=True)
class DevInstance:
    """The instance folder of `surveybot dev` (default `instance/` in the working folder)."""

    path: Path

    @property
    def lock_path(self) -> Path:
        """The file a running `surveybot dev` holds locked."""
        return self.path / LOCK_FILE

    @property
    def settings_path(self) -> Path:
        """The settings the running instance chose, for other commands."""
        return self.path / SETTINGS_FILE

    def acquire(self, description: str) -> int:
        """Lock the instance for this process (InstanceBusy if another holds it); returns the
        file descriptor to keep open for as long as the instance runs."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise InstanceBusy(holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, description.encode(), 0)
        return fd

    def running(self) -> bool:
        """Whether a `surveybot dev` holds this instance now."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing releases a lock taken just now
        return False

    def write_settings(self, values: dict[str, str]) -> None:
        """Publish the running instance's settings (readable by this user only: it holds the
        development secrets)."""
        fd = os.open(self.settings_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("# Written by `surveybot dev` for the commands run beside it; do not edit.\n")
            for name, value in values.items():
                out.write(f"{name}={_quote(value)}\n")

    def remove_settings(self) -> None:
        """Withdraw the settings file when the instance stops."""
        self.settings_path.unlink(missing_ok=True)

    def settings(self) -> dict[str, str]:
        """The running instance's settings, or nothing if it is not running."""
        if not self.settings_path.is_file() or not self.running():
            return {}
        return {k: v for k, v in dotenv_values(self.settings_path).items() if v is not None}


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
