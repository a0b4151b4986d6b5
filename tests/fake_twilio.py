"""A local stand-in for Twilio's REST API, at its HTTP boundary (the real client talks to it).

Tests and benchmarks point the Twilio client at it with TWILIO_API_BASE_URL. It records every
request (path, form, auth header, the arrival time on `clock`, the SID it answered with) and
answers message creation like Twilio, or with an error chosen for every request (`error`), for
the next requests in order (`fail_next`), or for one recipient (`fail_for`).
"""

from __future__ import annotations

import json
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


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # the listen backlog: several workers connect at once
    daemon_threads = True


class FakeTwilio:
    """Records every request; answers message creation like Twilio (or with a chosen error)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.requests: list[dict] = []
        self.error: Error | None = None  # for every request
        self.fail_for: dict[str, Error] = {}  # To number -> error, for every request to it
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
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = fake._answer(form)
                record = {
                    "path": self.path,
                    "form": form,
                    "auth": self.headers.get("Authorization"),
                    "time": arrived,
                    "sid": body.get("sid"),
                }
                with fake._lock:
                    fake.requests.append(record)
                data = json.dumps(body).encode()
                self.send_response(status)
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
            self.error = None

    @property
    def sids(self) -> list[str]:
        """The SIDs of the messages it accepted."""
        return [r["sid"] for r in self.requests if r["sid"]]

    def _answer(self, form: dict[str, str]) -> tuple[int, dict]:
        with self._lock:
            error = self._next.popleft() if self._next else None
        error = error or self.fail_for.get(form.get("To", "")) or self.error
        if error:
            status, code, message = error
            return status, {"code": code, "message": message, "status": status}
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
