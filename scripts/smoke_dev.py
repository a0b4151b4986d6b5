"""Smoke test of the embedded default: an organizer's first hour with `surveybot dev`.

Everything the README walks through, run the way a newcomer runs it: in a fresh folder, with
nothing exported, every `surveybot` command in that folder beside the running instance.

1. `surveybot dev` starts (no Redis, database or Twilio); the banner appears once the web server
   answers and names the simulator, the dashboard and the command that creates an account.
2. A second `surveybot dev` in the same folder refuses at once and the first keeps working;
   `surveybot --help` lists the commands without a traceback.
3. `surveybot user create` makes an admin account; it signs in to the dashboard over HTTP.
4. `surveybot wave create` / `wave open` run a wave; someone texts STOP in the simulator; the
   dashboard checks and sends a small invitation CSV (the opted-out number is never invited),
   and the invited person's reply starts the survey in the invitation's language.
5. A survey by text and one by phone, through the simulator's signed webhooks; the worker stores
   them in SQLite.
6. `surveybot release make` makes the demo wave's first release (development releases after
   one new response); `surveybot report build --json` explains that the last complete week has
   no answers and names the command that reports them; that command prints the report;
   `report preview` writes the email; `report send` delivers it to a local SMTP server
   configured in `.env`.
7. `report build --wave nope` names the missing wave; `cleanup status`, `survey check`,
   `wave list` and `wave close` work; Ctrl-C stops every process.
Exits non-zero on the first failure.
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from email import policy
from http.cookiejar import CookieJar
from pathlib import Path

TIMEOUT = 60
SURVEYBOT = str(Path(sys.executable).with_name("surveybot"))
ADMIN = "organizer@coalition.example.org"
PASSWORD = "a long dashboard passphrase"
# Settings a newcomer has not exported: the instance provides them.
UNSET = {
    "REDIS_URL",
    "DATABASE_URL",
    "SURVEYBOT_ENV",
    "INSTANCE_PATH",
    "SECRET_KEY",
    "PSEUDONYM_KEY",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_ACCOUNT_SID",
    "PUBLIC_BASE_URL",
    "SMTP_URL",
    "REPORT_FROM",
    "REPORT_RECIPIENTS",
}


def fail(message: str) -> None:
    raise SystemExit(f"FAIL: {message}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, urllib.error.URLError, sqlite3.Error):
            pass
        time.sleep(0.3)
    fail(f"timed out waiting for {what}")


class Folder:
    """The newcomer's folder: `surveybot` commands run here with nothing exported."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {k: v for k, v in os.environ.items() if k not in UNSET}

    def run(self, *args: str, stdin: str | None = None, expect: int = 0) -> str:
        """Run `surveybot ARGS` here; fail unless it exits with `expect`; return its output."""
        result = subprocess.run(
            [SURVEYBOT, *args],
            cwd=self.path,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = result.stdout + result.stderr
        if result.returncode != expect:
            fail(f"`surveybot {' '.join(args)}` exited {result.returncode}:\n{output}")
        if "Traceback" in output:
            fail(f"`surveybot {' '.join(args)}` printed a traceback:\n{output}")
        print(f"$ surveybot {' '.join(args)}  -> {result.returncode}")
        return output


class Browser:
    """An HTTP client with cookies, as a browser signs in and submits forms."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.read().decode()

    def post(self, path: str, fields: dict[str, str], files: dict[str, bytes] | None = None):
        if files:
            boundary = "smoke-boundary-7d41"
            parts = []
            for name, value in fields.items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                    f"{value}\r\n".encode()
                )
            for name, data in files.items():
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                    f'filename="members.csv"\r\nContent-Type: text/csv\r\n\r\n'.encode()
                    + data
                    + b"\r\n"
                )
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            content_type = f"multipart/form-data; boundary={boundary}"
        else:
            body = urllib.parse.urlencode(fields).encode()
            content_type = "application/x-www-form-urlencoded"
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Content-Type": content_type}
        )
        with self.opener.open(request, timeout=10) as response:
            return response.read().decode()


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if not match:
        fail("no CSRF token on the page")
    return match[1]


def post_json(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def text(base: str, phone: str, body: str) -> list[str]:
    return post_json(f"{base}/simulator/api/send", {"from": phone, "body": body})["replies"]


def outbox(base: str, phone: str) -> list[str]:
    """Texts the bot sent to a simulated phone on its own (invitations), taken out of it."""
    return post_json(f"{base}/simulator/api/outbox", {"from": phone})["messages"]


def take_survey(base: str, phone: str, first: str) -> str:
    """Answer every question with its first option (1 3 where several are allowed)."""
    replies = text(base, phone, first)
    replies = text(base, phone, "1")  # consent
    for _ in range(15):
        last = replies[-1]
        if "1." not in last:
            return last
        replies = text(base, phone, "1 3" if "1 3" in last else "1")
    fail(f"the survey of {first!r} did not end")
    return ""


def take_call(base: str, caller: str) -> str:
    call = post_json(f"{base}/simulator/api/call", {"from": caller, "action": "start"})
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
    if not call.get("ended"):
        fail("the call did not end")
    return call["prompts"][-1]["text"] if call["prompts"] else ""


class Inbox:
    """A real SMTP server on loopback (aiosmtpd), keeping what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001
                inbox.messages.append(
                    email.message_from_bytes(envelope.content, policy=policy.default)
                )
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> Inbox:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.controller.stop()


def start_dev(folder: Folder, port: int) -> tuple[subprocess.Popen, list[str]]:
    """`surveybot dev` in the folder; returns it and its output lines so far (kept growing)."""
    process = subprocess.Popen(
        [SURVEYBOT, "dev", "--port", str(port)],
        cwd=folder.path,
        env=folder.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def walk(folder: Folder, base: str, lines: list[str], inbox: Inbox) -> None:
    port = base.rsplit(":", 1)[1]
    # 1. The banner, once the web server answers.
    wait_for("the banner", lambda: any("Press Ctrl-C to stop." in line for line in lines))
    banner = "\n".join(lines)
    for needed in (f"{base}/simulator", f"{base}/dashboard", "user create", "--role admin"):
        if needed not in banner:
            fail(f"the banner does not name {needed!r}:\n{banner}")
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        health = json.loads(response.read())
    print(f"banner shown; healthz {health}")
    if health.get("status") != "ok":
        fail(f"unhealthy right after the banner: {health}")

    # 2. One instance per folder; help without a traceback.
    started = time.monotonic()
    output = folder.run("dev", "--port", str(free_port()), expect=1)
    if "already running" not in output or time.monotonic() - started > 15:
        fail(f"a second `surveybot dev` did not refuse at once:\n{output}")
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        if json.loads(response.read()).get("redis") != "ok":
            fail("the second `surveybot dev` broke the first one's Redis")
    output = folder.run("--help")
    for command in ("dev", "user", "wave", "report"):
        if f"  {command} " not in output:
            fail(f"`surveybot --help` does not list {command}:\n{output}")
    for internal in ("routes", "shell"):
        if f"  {internal} " in output:
            fail(f"`surveybot --help` lists Flask's {internal}")

    # 3. The first account, and signing in with it.
    folder.run("user", "create", ADMIN, "--role", "admin", "--password-stdin", stdin=PASSWORD)
    browser = Browser(base)
    page = browser.get("/dashboard/sign-in")
    page = browser.post(
        "/dashboard/sign-in",
        {"csrf_token": csrf(page), "next": "", "email": ADMIN, "password": PASSWORD},
    )
    if "Sign out" not in page and "sign-out" not in page:
        fail("signing in to the dashboard did not work")
    print("signed in to the dashboard")

    # 4. A wave, an opt-out, invitations from the dashboard.
    folder.run("wave", "create", "spring", "--title", "Spring survey", "--keyword", "en=SPRING")
    folder.run("wave", "open", "spring")
    if "spring" not in folder.run("wave", "list"):
        fail("`wave list` does not show the new wave")
    stopper, invited = "+13055550150", "+13055550151"
    text(base, stopper, "STOP")
    members = f"phone\n{invited}\n{stopper}\n305-555-0151\n".encode()
    page = browser.get("/dashboard/waves/spring/invitations")
    check = browser.post(
        "/dashboard/waves/spring/invitations",
        {"csrf_token": csrf(page), "step": "check", "language": "es", "region": "US"},
        {"file": members},
    )
    digest = re.search(r'name="digest" value="([^"]+)"', check)
    if not digest:
        fail("the dashboard did not show the checked invitation list")
    done = browser.post(
        "/dashboard/waves/spring/invitations",
        {
            "csrf_token": csrf(check),
            "step": "send",
            "digest": digest[1],
            "language": "es",
            "region": "US",
        },
        {"file": members},
    )
    if "invitations queued" not in done:
        fail("the dashboard did not queue the invitations")
    wait_for("the invitation to reach the simulator", lambda: outbox(base, invited))
    if outbox(base, stopper):
        fail("a number that texted STOP was invited")
    reply = text(base, invited, "hola")
    if "1" not in reply[-1] or "Responda" not in reply[-1]:
        fail(f"the invited person's reply did not start the survey in Spanish: {reply}")
    print("invitation sent to 1 of 2 numbers (the other had texted STOP); reply in Spanish")

    # 5. A survey by text and one by phone, stored by the worker.
    closing = take_survey(base, "+13055550142", "SURVEY")
    print("text survey closing:", closing[:60])
    goodbye = take_call(base, "+13055550143")
    if "Thank you" not in goodbye:
        fail(f"the call did not reach its closing words: {goodbye}")
    database = folder.path / "instance" / "surveybot.sqlite3"

    def stored() -> int:
        with sqlite3.connect(database) as connection:
            return connection.execute("SELECT count(*) FROM response").fetchone()[0]

    wait_for("the worker to store 2 responses", lambda: stored() == 2)
    print("responses stored: 2")

    # 6. A release (figures are never live), then reports: the default week explains itself;
    # its command works; preview; send.
    output = folder.run("release", "make", "--wave", "demo")
    if "wave demo: release 1 made" not in output:
        fail(f"`release make` made no release of the demo wave:\n{output}")
    output = folder.run("report", "build", "--json", expect=1)
    suggested = re.search(r"To report one: \S*surveybot (report build --json [^\n]+)", output)
    if not suggested:
        fail(f"`report build --json` did not name the command to run:\n{output}")
    args = suggested[1].split()
    report = json.loads(wait_for("the aggregates", lambda: _report_with_answers(folder, args)))
    print(f"report of wave {report['wave']}, {report['period']}: completed {report['completed']}")
    output = folder.run("report", "preview", "--wave", "demo", "--week", "this", "--out", "out")
    if not (folder.path / "out" / "report.html").is_file():
        fail(f"`report preview` wrote no report.html:\n{output}")
    (folder.path / ".env").write_text(
        f"SMTP_URL=smtp://127.0.0.1:{inbox.port}\n"
        "REPORT_FROM=survey@coalition.example.org\n"
        "REPORT_RECIPIENTS=partners@coalition.example.org\n"
    )
    output = folder.run("report", "send", "--wave", "demo", "--week", "this")
    if ": sent" not in output or len(inbox.messages) != 1:
        fail(f"`report send` did not deliver the email:\n{output}")
    print("report emailed:", inbox.messages[0]["Subject"])

    # 7. Errors that name what is wrong; the remaining commands.
    output = folder.run("report", "build", "--json", "--wave", "nope", expect=1)
    if "no wave named 'nope'" not in output:
        fail(f"a missing wave was not named:\n{output}")
    folder.run("cleanup", "status")
    folder.run("survey", "check")
    folder.run("wave", "close", "spring")
    print(f"walk done on port {port}")


def _report_with_answers(folder: Folder, args: list[str]) -> str | None:
    """The report once the aggregates count the answers (2 completed: suppressed, null)."""
    output = folder.run(*args)
    return output if json.loads(output)["completed"] != 0 else None


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="surveybot-smoke-"))
    folder = Folder(root)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process, lines = start_dev(folder, port)
    try:
        with Inbox() as inbox:
            walk(folder, base, lines, inbox)
    except SystemExit:
        print("\n".join(lines[-40:]), file=sys.stderr)
        raise
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            fail("surveybot dev did not stop within 30 s of Ctrl-C")
    # Grandchildren (a worker's scheduler, a work horse) end just after their parents: give
    # them a moment on a busy machine, then name whatever is still there.
    deadline = time.monotonic() + 10
    while True:
        leftover = subprocess.run(
            ["pgrep", "-f", str(root)], capture_output=True, text=True
        ).stdout.strip()
        try:
            os.killpg(process.pid, 0)
            group = subprocess.run(
                ["pgrep", "-g", str(process.pid), "-a"], capture_output=True, text=True
            ).stdout.strip()
            leftover += f" (and its process group: {group})"
        except ProcessLookupError:
            pass
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if leftover:
        fail(f"processes left after Ctrl-C: {leftover}")
    shutil.rmtree(root, ignore_errors=True)  # its Redis and SQLite files
    print(f"surveybot dev exited with {code}; no process left")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
