"""Fixtures for the browser tests: real Chromium, driven by Playwright, against a server.

The tests in this folder open ``pages/client.html``, served by the server under
test as an application page would be, in Chromium, and exercise our browser
client, which the page loads from the server at ``/socket.io/socket.io.js``.
(The page must come from the server itself: Chromium's local network access
checks block a WebSocket to 127.0.0.1 from a page Playwright made up.)

The server under test
=====================

``realtime_server_url`` (package scope: this folder) yields the base URL (``http://host:port``,
no trailing slash) of a running server that follows the contract below: by
default flask-realtime's own, the app of ``contract_app.py`` served by
``socketio.run()`` in a background thread on a free port of 127.0.0.1
(``live_server.py``), stopped after this folder's tests. The environment variable
``FLASK_REALTIME_E2E_URL`` points the tests at another server that follows the
contract instead (such as a Node socket.io reference server started by hand).
``e2e_server`` then checks that the server answers before any test uses it.
``contract_server`` gives a test a server of its own (one it may stop and
restart), and ``open_page`` opens the test page of any such server.

Server contract
===============

Configuration
-------------
- Socket.IO path ``/socket.io``; transports polling and websocket, with the
  polling -> websocket upgrade offered; same-origin requests accepted.
- ``ping_interval`` 1 s and ``ping_timeout`` 2 s (the heartbeat and
  ping-timeout tests rely on them; the handshake says pingInterval 1000,
  pingTimeout 2000).
- ``max_http_buffer_size`` 100_000 bytes (handshake maxPayload 100000): the
  client must split long-polling POSTs to fit it.
- Serves our client: ``GET /socket.io/socket.io.js`` and
  ``GET /socket.io/socket.io.esm.js`` (200, JavaScript), the files of
  ``src/flask_realtime/static/``.
- Serves the test page: ``GET /__e2e__/client.html`` answers 200 with
  ``tests/e2e/pages/client.html`` as ``text/html`` (one Flask route).

Namespace ``/``
---------------
- connect, with the client's ``auth``: refuse when ``auth`` is a dict with
  ``auth["token"] == "bad"``, as ``ConnectionRefusedError("unauthorized",
  {"code": 4001})`` does; on the wire, CONNECT_ERROR with payload
  ``{"message": "unauthorized", "data": {"code": 4001}}``. Accept otherwise.
- ``echo`` (any number of arguments, binary included): emit ``echo`` with the
  same arguments back to the sender only (bytes go back as binary).
- ``message`` (one argument): ``send()`` it back, that is emit ``message``.
- ``ack`` (any arguments): acknowledge with the same arguments (a handler
  returning a tuple of them), binary included.
- ``whoami`` (no argument): acknowledge with one object ``{"sid": the socket's
  sid, "auth": the auth payload received at connect (None or {} when none),
  "query": {name: value} of the handshake request's query string, "header":
  the value of the handshake request's ``X-E2E`` header or None}``.
- ``slow_ack`` (ms, value): acknowledge with ``value`` after ``ms``
  milliseconds, without blocking other clients (whether the same client's
  next events wait for it is the server's choice: the tests allow both).
- ``ask`` (data): emit ``question`` with ``data`` to the sender, asking for an
  acknowledgement; when the client acknowledges with ``*args``, emit
  ``answer`` with one argument, the list ``[*args]``, to the sender.
- ``broadcast`` (data): emit ``broadcast`` with ``data`` to every client of
  namespace ``/``, the sender included.
- ``disconnect_me`` (no argument): disconnect the sender from ``/`` (a
  Socket.IO DISCONNECT packet; the client reports "io server disconnect").
- ``drop`` (no argument): close the sender's Engine.IO session abruptly,
  without a Socket.IO DISCONNECT (Engine.IO CLOSE on long-polling, a WebSocket
  close on websocket); the client reports "transport close" and reconnects.

Namespace ``/chat``
-------------------
- connect: always accepted, whatever the auth.
- ``echo``: as in ``/``.
- ``whereami`` (no argument): acknowledge with the string ``"/chat"``.

Browser
=======

``browser`` runs Chromium found the way users install it: a ``chromium``,
``chromium-browser``, ``google-chrome`` or ``google-chrome-stable`` command on
``PATH`` (Debian's ``apt-get install chromium``), else the Chromium that
Playwright downloaded (``playwright install chromium``). Without one the tests
fail, unless ``FLASK_REALTIME_SKIP_BROWSER=1`` says to run without a browser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.requirements import missing
from support.waiting import wait_until

from .contract_app import PAGE_PATH, PAGE_READY, create_app
from .live_server import LiveServer

CHROMIUM_COMMANDS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""The names a Chromium goes by on ``PATH``, in the order they are looked for."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_READY_SECONDS = 10.0
ACTION_TIMEOUT_MS = 10_000
THREADS_END_SECONDS = 5.0
OUR_THREADS = ("flask-realtime", "background-", "e2e-")
"""Name prefixes of the threads our servers, handlers and background tasks run in."""
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
"""Where the tests save screenshots (``test-output/`` is gitignored)."""

OpenPage = Callable[..., Any]


@pytest.fixture(scope="package", autouse=True)
def _no_threads_left_behind() -> Iterator[None]:
    """Fail if these tests leave a thread of a server or a background task running.

    Only threads that these tests start are checked (those of our servers, of handlers
    and background tasks, and the embedded loop), so that Playwright's own threads, and
    what other test folders of the same session started before, do not count.
    """
    before = set(threading.enumerate())

    def ours() -> set[threading.Thread]:
        return {t for t in set(threading.enumerate()) - before if t.name.startswith(OUR_THREADS)}

    yield
    deadline = time.monotonic() + THREADS_END_SECONDS
    for thread in ours():
        thread.join(max(0.0, deadline - time.monotonic()))
    left = sorted(t.name for t in ours())
    assert not left, f"threads left running after the browser tests: {left}"


@pytest.fixture(scope="package")
def realtime_server_url() -> Iterator[str]:
    """Base URL of the server under test, which follows the module docstring's contract.

    flask-realtime's server with ``contract_app.py``, unless ``FLASK_REALTIME_E2E_URL``
    names another server.
    """
    url = os.environ.get("FLASK_REALTIME_E2E_URL")
    if url:
        yield url.rstrip("/")
        return
    with LiveServer(*create_app()) as server:
        yield server.url


@pytest.fixture
def contract_server() -> Iterator[LiveServer]:
    """A contract server of the test's own (the test may stop and restart it)."""
    with LiveServer(*create_app()) as server:
        yield server


class _Probe:
    """Whether a GET of ``url`` answers 200; remembers what went wrong last."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.problem = "no answer yet"

    def __call__(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                if response.status == 200:
                    return True
                self.problem = f"status {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            self.problem = str(exc)
        return False

    def describe(self) -> str:
        return f"the e2e server to be ready: GET {self.url}: {self.problem}"


@pytest.fixture(scope="package")
def e2e_server(realtime_server_url: str) -> str:
    """The base URL of the server under test, once it serves our client and the page.

    Fails after 10 s if it does not.
    """
    deadline = time.monotonic() + SERVER_READY_SECONDS
    for path in ("/socket.io/socket.io.js", "/socket.io/socket.io.esm.js", PAGE_PATH):
        probe = _Probe(realtime_server_url + path)
        # A readiness poll under one deadline for the three.
        wait_until(probe, max(0.0, deadline - time.monotonic()), probe.describe, interval=0.1)
    return realtime_server_url


def find_chromium(playwright: Any) -> str:
    """The path of a Chromium to run: a command on PATH, else Playwright's own download."""
    for name in CHROMIUM_COMMANDS:
        found = shutil.which(name)
        if found:
            return found
    try:
        downloaded = Path(playwright.chromium.executable_path)
    except Exception:
        downloaded = None
    if downloaded is not None and downloaded.exists():
        return str(downloaded)
    missing(
        "browser",
        f"no Chromium found: none of {', '.join(CHROMIUM_COMMANDS)} is on PATH and Playwright "
        "has downloaded none (apt-get install chromium, or playwright install chromium)",
    )


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for the e2e tests (a failure without one, unless opted out).

    Package scope, not session: Playwright's sync API keeps its own asyncio loop marked as
    running in the main thread while it lives, which breaks every later asyncio test.
    """
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=ACTION_TIMEOUT_MS)  # as the pages' own default timeout
    with sync_playwright() as playwright:
        executable = find_chromium(playwright)
        chromium = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def new_page(browser: Any, url: str, ready: str | None = None) -> Iterator[Any]:
    """A page of a fresh context (no client state is shared) at ``url``.

    ``page.errors`` collects the page's uncaught JavaScript errors. ``ready``: a
    JavaScript expression to wait for after loading (with the default timeout).
    """
    context = browser.new_context()
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        page = context.new_page()
        errors: list[Any] = []
        page.errors = errors
        page.on("pageerror", lambda error: errors.append(error))
        page.goto(url)
        if ready is not None:
            page.wait_for_function(ready)
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The folder for screenshots, ``test-output/screenshots/`` at the repository root."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def page(browser: Any, e2e_server: str) -> Iterator[Any]:
    """A fresh page of its own context (so no client state is shared) with our client loaded."""
    with new_page(browser, e2e_server + PAGE_PATH, PAGE_READY) as page:
        yield page


@pytest.fixture
def open_page(browser: Any) -> Iterator[OpenPage]:
    """``open_page(url, ready=None)``: a page at ``url`` in a fresh context of its own.

    ``ready`` is a JavaScript expression to wait for. Each page records its uncaught
    JavaScript errors in ``page.errors`` (a list). The pages close after the test.
    """
    with contextlib.ExitStack() as stack:

        def open_(url: str, ready: str | None = None) -> Any:
            return stack.enter_context(new_page(browser, url, ready))

        yield open_


@pytest.fixture(scope="package")
def demo_url() -> Iterator[str]:
    """The base URL of one server with the demos of ``examples/`` (``demo_app.py``, its
    live stream five times faster), shared by the demo tests."""
    from .demo_app import create_demo_app
    from .demo_support import LIVE_INTERVAL, serving

    app, socketio = create_demo_app(live_interval=LIVE_INTERVAL)
    with serving(app, socketio) as server:
        yield server.url
