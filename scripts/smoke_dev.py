"""Smoke test of the embedded default: `surveybot dev` with no Redis, database or Twilio.

Starts `surveybot dev` in a fresh instance folder, waits for /healthz, takes one complete
survey through the simulator's endpoint (the real signed webhook behind it), waits until the
worker has stored the response in SQLite, then presses Ctrl-C and checks that every process
(web, worker, cron, embedded Redis) is gone. Exits non-zero on any failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, json.loads(response.read())


def post_json(url: str, payload: dict):
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for(what: str, check, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, urllib.error.URLError, sqlite3.Error):
            pass
        time.sleep(0.5)
    raise SystemExit(f"FAIL: timed out waiting for {what}")


def main() -> int:
    instance = Path(tempfile.mkdtemp(prefix="surveybot-smoke-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env["INSTANCE_PATH"] = str(instance)
    surveybot = Path(sys.executable).with_name("surveybot")
    process = subprocess.Popen(
        [str(surveybot), "dev", "--port", str(port)], env=env, start_new_session=True
    )
    try:
        status, health = wait_for("/healthz", lambda: get_json(f"{base}/healthz"))
        print(f"healthz {status} {health}")
        if health.get("redis") != "ok" or health.get("database") != "ok":
            raise SystemExit(f"FAIL: unhealthy {health}")

        phone = "+13055550142"
        replies = post_json(f"{base}/simulator/api/send", {"from": phone, "body": "SURVEY"})
        print("SURVEY ->", replies["replies"][0][:60], "...")
        replies = post_json(f"{base}/simulator/api/send", {"from": phone, "body": "1"})
        for _ in range(12):
            last = replies["replies"][-1]
            if "1." not in last:
                break
            answer = "1 3" if "1 3" in last else "1"
            replies = post_json(f"{base}/simulator/api/send", {"from": phone, "body": answer})
        closing = replies["replies"][-1]
        print("closing:", closing)
        if "1." in closing:
            raise SystemExit("FAIL: the survey did not reach its closing message")

        database = instance / "surveybot.sqlite3"

        def stored() -> int:
            with sqlite3.connect(database) as connection:
                return connection.execute("SELECT count(*) FROM response").fetchone()[0]

        count = wait_for("the worker to store the response", stored)
        print(f"responses stored: {count}")
        if count != 1:
            raise SystemExit(f"FAIL: expected 1 stored response, found {count}")

        # The same survey by phone, through the simulator's keypad and the signed voice routes.
        caller = "+13055550143"
        call = post_json(f"{base}/simulator/api/call", {"from": caller, "action": "start"})
        print("call ->", call["prompts"][0]["text"][:60], "...")
        for keys in ["1", "1"] + ["1"] * 12:
            gather = call.get("gather")
            if not gather:
                break
            multi = not gather.get("numDigits")  # several keys, then #
            step = {"from": caller, "call_sid": call["call_sid"], "url": gather["action"]}
            step.update(action="press", digits="13" if multi else keys)
            if multi:
                step["finished_on_key"] = "#"
            call = post_json(f"{base}/simulator/api/call", step)
        goodbye = call["prompts"][-1]["text"] if call["prompts"] else ""
        print("call ended:", call.get("ended"), "-", goodbye[:60])
        if not call.get("ended") or "Thank you" not in goodbye:
            raise SystemExit("FAIL: the call did not reach its closing words")
        wait_for("the worker to store the call's response", lambda: stored() == 2)
        print("responses stored after the call: 2")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise SystemExit("FAIL: surveybot dev did not stop within 30 s of Ctrl-C") from None
    time.sleep(0.5)
    try:
        os.killpg(process.pid, 0)
        leftover = subprocess.run(
            ["ps", "-o", "pid,args", "-g", str(process.pid)], capture_output=True, text=True
        ).stdout
        raise SystemExit(f"FAIL: processes left after Ctrl-C:\n{leftover}")
    except ProcessLookupError:
        pass
    shutil.rmtree(instance, ignore_errors=True)  # its embedded Redis and SQLite files
    print(f"surveybot dev exited with {code}; no process left")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
