"""What the browser tests share: a live app on a local port, and a context of Debian's headless
Chromium driven by Playwright (which never downloads a browser here).

Loaded as a pytest plugin by tests/conftest.py, so the fixtures `live_app` and
`browser_context` are there for any test that names them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from bot import create_app
from workers import context

try:
    from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - CI installs it with the dev extra
    BrowserContext = Page = expect = sync_playwright = None

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


@pytest.fixture
def live_app(redis, settings_overrides) -> Iterator[tuple[object, str]]:
    """The real app, served over HTTP on a free local port by a background thread."""
    app = create_app({**settings_overrides, "SIMULATOR_ENABLED": "1"})
    context.configure(app.extensions["surveybot"].settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-test-server")
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        context.configure(None)
        app.extensions["surveybot"].redis.close()


@pytest.fixture
def browser_context() -> Iterator[BrowserContext]:
    """A fresh context of Debian's headless Chromium (Playwright never downloads a browser)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    if sync_playwright is None:
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            browser_ctx = browser.new_context(
                accept_downloads=True, viewport={"width": 1280, "height": 900}
            )
            browser_ctx.set_default_timeout(TIMEOUT_MS)
            try:
                yield browser_ctx
            finally:
                browser_ctx.close()
        finally:
            browser.close()
