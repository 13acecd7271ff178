"""Timings and a raw handshake shared by the ``test_asgi_*`` modules (the servers and
clients themselves are in ``asgi_support.py``; their fixtures in ``conftest.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from flask_realtime.engine import EngineOptions

from .asgi_support import DEADLINE, Served

FAST = EngineOptions(path="engine.io", ping_interval=0.3, ping_timeout=0.2)
"""The timing of the official Engine.IO suite: heartbeats within a test."""
QUIET = EngineOptions(path="engine.io")
"""Default timing (25 s / 20 s): no heartbeat traffic during a test."""


Serve = Callable[..., Served]


def handshake(served: Served) -> dict[str, Any]:
    """Open a polling session with a raw GET; the OPEN packet's JSON."""
    response = requests.get(served.eio("EIO=4&transport=polling"), timeout=DEADLINE)
    assert response.status_code == 200
    assert response.text[0] == "0"
    opened: dict[str, Any] = json.loads(response.text[1:])
    return opened
