"""Fixtures for the browser tests: real Chromium, driven by Playwright, against a server.

The tests in this folder open ``pages/client.html``, served by the server under
test as an application page would be, in Chromium, and exercise our browser
client, which the page loads from the server at ``/socket.io/socket.io.js``.
(The page must come from the server itself: Chromium's local network access
checks block a WebSocket to 127.0.0.1 from a page Playwright made up.)

What the lead has to wire
=========================

``realtime_server_url`` (session scope) yields the base URL (``http://host:port``,
no trailing slash) of a running server that follows the contract below. Until
our server exists, it reads the environment variable ``FLASK_REALTIME_E2E_URL``
(any server that follows the contract, such as a Node socket.io reference
server started by hand) and otherwise skips these tests. Replace its body with
one that starts flask-realtime's server in process or in a subprocess (on a free
port, with the handlers below) and stops it after the session; keep the
environment variable as an override if useful. ``e2e_server`` then checks that
the server answers before any test uses it.

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

``browser`` needs Debian's Chromium at ``/usr/bin/chromium`` (Playwright cannot
download its own browsers here). Without it the tests are skipped, except when
the environment variable ``CI`` is set: then they fail, so CI never passes
without having run them.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
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
PAGE_PATH = "/__e2e__/client.html"  # the server serves pages/client.html there
SERVER_READY_SECONDS = 10.0
ACTION_TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def realtime_server_url() -> str:
    """Base URL of the server under test, which follows the module docstring's contract.

    LEAD: wire flask-realtime's server here (see "What the lead has to wire").
    """
    url = os.environ.get("FLASK_REALTIME_E2E_URL")
    if not url:
        pytest.skip(
            "e2e: no server under test yet. LEAD: wire realtime_server_url in "
            "tests/e2e/conftest.py to flask-realtime's server, or set "
            "FLASK_REALTIME_E2E_URL to a server that follows the contract there"
        )
    return url.rstrip("/")


@pytest.fixture(scope="session")
def e2e_server(realtime_server_url: str) -> str:
    """The base URL of the server under test, once it serves our client and the page.

    Fails after 10 s if it does not.
    """
    deadline = time.monotonic() + SERVER_READY_SECONDS
    for path in ("/socket.io/socket.io.js", "/socket.io/socket.io.esm.js", PAGE_PATH):
        probe = realtime_server_url + path
        while True:
            try:
                with urllib.request.urlopen(probe, timeout=2) as response:
                    if response.status == 200:
                        break
                    problem = f"status {response.status}"
            except (urllib.error.URLError, OSError) as exc:
                problem = str(exc)
            if time.monotonic() > deadline:
                pytest.fail(f"e2e server not ready: GET {probe}: {problem}")
            time.sleep(0.1)  # a readiness poll under a deadline
    return realtime_server_url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (skipped without it, unless CI is set)."""
    if not CHROMIUM.exists():
        message = f"e2e: Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI is set, so the browser tests must run", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, e2e_server: str) -> Iterator[Any]:
    """A fresh page of its own context (so no client state is shared) with our client loaded."""
    context = browser.new_context()
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(e2e_server + PAGE_PATH)
        page.wait_for_function("typeof io === 'function' && typeof e2e === 'object'")
        yield page
    finally:
        context.close()
