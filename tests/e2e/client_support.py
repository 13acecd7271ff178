"""Shared by the test_client_*.py modules: our browser client (src/flask_realtime/static/
socket.io.js) in Chromium, against a real server.

Each test runs one script in a fresh page (see conftest.py for the page, the
server contract and what the lead wires). Waits inside the page have their own
deadlines (``e2e.next``, ``e2e.within``), so a missing event fails with its
name rather than hanging; pytest-timeout bounds the rest.
"""

from __future__ import annotations

import re

TRANSPORTS = {
    "websocket": ["websocket"],
    "polling": ["polling"],
    "upgrade": ["polling", "websocket"],
}
SOCKET_IO_URL = re.compile(r"/socket\.io/\?")
