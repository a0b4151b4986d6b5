"""A local stand-in for Twilio's REST API, at its HTTP boundary (the real client talks to it).

Tests and benchmarks point the Twilio client at it with TWILIO_API_BASE_URL. It records every
request (method, path, form, auth header, the arrival time on `clock`, the SID it answered
with, the HTTP status) and answers message creation like Twilio, or with an error chosen for
every request (`error`), for the next requests in order (`fail_next`), or for one recipient
(`fail_for`, by To number).

It also answers the deletion of a message or call record (`DELETE .../Messages/{SID}.json`,
`.../Calls/{SID}.json`) with 204, or 404 (error 20404) for a SID it deleted before, or an
error chosen the same ways (`fail_for` by the record's SID). Like Twilio, its 404 text quotes
the URL (SID included), so tests see whether that text leaks anywhere.

And it answers the Content API (`POST /v1/Content`, JSON, on content.twilio.com: the client's
requests reach it the same way) by recording the JSON body as `json` and answering 201 with
a fresh ContentSid (HX...), or the error chosen for every request or the next ones.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

# (HTTP status, Twilio error code, message), e.g. (400, 21610, "Attempt to send to ...").
Error = tuple[int, int, str]

UNSUBSCRIBED: Error = (400, 21610, "Attempt to send to unsubscribed recipient")
INVALID_NUMBER: Error = (400, 21211, "The 'To' number is not a valid phone number.")
SERVER_ERROR: Error = (500, 20500, "Internal Server Error")
TOO_MANY_REQUESTS: Error = (429, 20429, "Too Many Requests")
# Twilio refuses to delete a record it has not finished processing. Its documentation gives the
# code, not the HTTP status; 400 here makes the tests prove that the code decides.
NOT_COMPLETE: Error = (400, 20009, "Cannot delete this resource before it is complete")
UNAUTHORIZED: Error = (401, 20003, "Authenticate")
CONTENT_PATH = "/v1/Content"
RECORD_PATH = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/(Messages|Calls)/(\w+)\.json$")


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # the listen backlog: several workers connect at once
    daemon_threads = True


class FakeTwilio:
    """Records every request; answers message creation like Twilio (or with a chosen error)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.requests: list[dict] = []
        self.error: Error | None = None  # for every request
        self.fail_for: dict[str, Error] = {}  # To number (or SID deleted) -> error, every time
        self.deleted: set[str] = set()  # SIDs of the records it deleted
        self._next: deque[Error | None] = deque()  # for the next requests, in order
        self._lock = threading.Lock()
        self.clock = clock
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                arrived = fake.clock()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if self.path == CONTENT_PATH:
                    sent = json.loads(raw)
                    status, body = fake._answer_content()
                    self._record_and_reply(
                        "POST", arrived, {}, status, body, sid=body.get("sid"), sent=sent
                    )
                    return
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                status, body = fake._answer(form, calls=self.path.endswith("/Calls.json"))
                self._record_and_reply("POST", arrived, form, status, body, sid=body.get("sid"))

            def do_DELETE(self) -> None:  # noqa: N802 - http.server's naming
                arrived = fake.clock()
                status, body = fake._answer_delete(self.path)
                self._record_and_reply("DELETE", arrived, {}, status, body, sid=None)

            def _record_and_reply(
                self, method, arrived, form, status, body, *, sid, sent=None
            ) -> None:  # noqa: ANN001
                record = {
                    "json": sent,
                    "method": method,
                    "path": self.path,
                    "form": form,
                    "auth": self.headers.get("Authorization"),
                    "time": arrived,
                    "sid": sid,
                    "status": status,
                }
                with fake._lock:
                    fake.requests.append(record)
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def fail_next(self, *errors: Error | None) -> None:
        """Answer the next requests with these errors, in order (None: answer normally)."""
        with self._lock:
            self._next.extend(errors)

    def clear(self) -> None:
        """Forget the recorded requests and every chosen error."""
        with self._lock:
            self.requests.clear()
            self._next.clear()
            self.fail_for.clear()
            self.deleted.clear()
            self.error = None

    @property
    def sids(self) -> list[str]:
        """The SIDs of the messages it accepted."""
        return [r["sid"] for r in self.requests if r["sid"]]

    @property
    def deletions(self) -> list[tuple[str, str, int]]:
        """Every DELETE it answered: (Messages or Calls, SID, HTTP status), in order."""
        out = []
        for r in self.requests:
            match = RECORD_PATH.match(r["path"]) if r.get("method") == "DELETE" else None
            if match:
                out.append((match.group(2), match.group(3), r["status"]))
        return out

    def _answer_delete(self, path: str) -> tuple[int, dict | None]:
        match = RECORD_PATH.match(path)
        if not match:
            return 404, {"code": 20404, "message": f"The requested resource {path} was not found"}
        sid = match.group(3)
        with self._lock:
            error = self._next.popleft() if self._next else None
            error = error or self.fail_for.get(sid) or self.error
            if not error and sid in self.deleted:
                error = (404, 20404, f"The requested resource {path} was not found")
            if not error:
                self.deleted.add(sid)
        if error:
            status, code, message = error
            return status, {"code": code, "message": message, "status": status}
        return 204, None

    @property
    def contents(self) -> list[dict]:
        """The JSON bodies of the Content API requests it accepted, in order."""
        return [r["json"] for r in self.requests if r["path"] == CONTENT_PATH and r["sid"]]

    @property
    def messages(self) -> list[dict[str, str]]:
        """The forms of the messages it accepted, in order."""
        return [r["form"] for r in self.requests if r["sid"] and r["path"] != CONTENT_PATH]

    def _answer_content(self) -> tuple[int, dict]:
        with self._lock:
            error = self._next.popleft() if self._next else None
        error = error or self.error
        if error:
            status, code, message = error
            return status, {"code": code, "message": message, "status": status}
        return 201, {"sid": "HX" + uuid.uuid4().hex, "account_sid": "AC" + "0" * 32}

    def _answer(self, form: dict[str, str], *, calls: bool = False) -> tuple[int, dict]:
        with self._lock:
            error = self._next.popleft() if self._next else None
        error = error or self.fail_for.get(form.get("To", "")) or self.error
        if error:
            status, code, message = error
            return status, {"code": code, "message": message, "status": status}
        if calls:  # a call placed (POST .../Calls.json): Twilio answers with the queued call
            return 201, {"sid": "CA" + uuid.uuid4().hex, "status": "queued", "to": form.get("To")}
        return 201, {
            "sid": "SM" + uuid.uuid4().hex,
            "status": "queued",
            "to": form.get("To"),
            "body": form.get("Body"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
        }

    def __enter__(self) -> FakeTwilio:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
