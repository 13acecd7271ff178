"""python-socketio clients for the deployment tests: events recorded, waits with deadlines."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
import socketio

from support.pysio import in_order

__all__ = ["Recorder"]


class Recorder:
    """A ``socketio.Client`` connected to ``url`` that records every event it receives.

    Args:
        url: the server.
        transports: ``["websocket"]``, ``["polling"]`` or both (upgrade).
        cafile: the certificate to trust, for a server on TLS.
    """

    def __init__(
        self,
        url: str,
        transports: list[str],
        *,
        reconnection: bool = False,
        cafile: str | None = None,
    ) -> None:
        options: dict[str, Any] = {}
        if cafile is not None:  # trust this certificate (and not the environment's bundle)
            session = requests.Session()
            session.trust_env = False
            session.verify = cafile
            options["http_session"] = session
        # In order: python-engineio runs each message's handlers in a thread of its own, so
        # on a loaded machine two echoes that arrived in order could be recorded swapped.
        self.client = in_order(socketio.Client(reconnection=reconnection, **options))
        self.events: list[tuple[str, Any]] = []
        self._lock = threading.Condition()
        self.client.on("*", self._record)
        self.client.on("disconnect", lambda *reason: self._record("disconnect", reason))
        self.client.connect(url, transports=transports, wait_timeout=10)

    def _record(self, event: str, data: Any = None) -> None:
        with self._lock:
            self.events.append((event, data))
            self._lock.notify_all()

    def wait_for(self, event: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
        """The data of the first ``count`` ``event`` events, waiting at most ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [data for name, data in self.events if name == event]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"timed out waiting for {count} {event!r}: {self.events}")
                self._lock.wait(left)

    def got(self, event: str) -> list[Any]:
        with self._lock:
            return [data for name, data in self.events if name == event]

    def call(self, event: str, *args: Any) -> Any:
        return self.client.call(event, args[0] if len(args) == 1 else args, timeout=10)

    def close(self) -> None:
        self.client.disconnect()
        # python-engineio leaves its WebSocket open when the server ended the session.
        ws = getattr(self.client.eio, "ws", None)
        if ws is not None:
            ws.shutdown()
        http = getattr(self.client.eio, "http", None)
        if http is not None:
            http.close()
