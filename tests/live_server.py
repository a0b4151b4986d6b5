"""What tests over real HTTP share: the app served on a free local port (`live_url`, or a
fresh app with `live_app`), a context of Debian's headless Chromium driven by Playwright (which
never downloads a browser here), and scripted keyboard input for the terminal simulators.

Loaded as a pytest plugin by tests/conftest.py, so its fixtures are there for any test that
names them; `feed_input` is imported.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def serving(app) -> Iterator[str]:  # noqa: ANN001
    """Serve `app` over HTTP on a free local port from a background thread; yields its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-test-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def live_url(app) -> Iterator[str]:  # noqa: ANN001
    """The test app served over real HTTP on a free local port."""
    with serving(app) as url:
        yield url


def feed_input(monkeypatch, lines: list[str]) -> list[str]:  # noqa: ANN001
    """Make input() return `lines` one by one, then raise EOFError; returns the prompts shown."""
    remaining = list(lines)
    prompts: list[str] = []

    def fake_input(prompt: str = "") -> str:
        prompts.append(prompt)
        if not remaining:
            raise EOFError
        return remaining.pop(0)

    monkeypatch.setattr("builtins.input", fake_input)
    return prompts


@pytest.fixture
def live_app(redis, settings_overrides) -> Iterator[tuple[object, str]]:
    """The real app, served over HTTP on a free local port by a background thread."""
    app = create_app({**settings_overrides, "SIMULATOR_ENABLED": "1"})
    context.configure(app.extensions["surveybot"].settings)
    try:
        with serving(app) as url:
            yield app, url
    finally:
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
