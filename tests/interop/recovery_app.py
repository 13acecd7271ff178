"""The app that real clients test connection state recovery against, served behind TCP
proxies that its handlers cut (``support.tcp_proxy``), and its runner.

Namespace ``/``, with ``connection_state_recovery`` on:

- connect: records ``{"recovered": is_recovered()}`` (``Recorder`` kind "connect").
- ``setup`` {room, data}: joins ``room``, stores ``data`` in ``socket_data``; acks True.
- ``whoami``: acks ``{sid, data, rooms, recovered}``.
- ``ticks`` {room, count, every, cut_after, pause, proxy}: a background task emits
  ``tick`` n to ``room`` for n = 1..count, one every ``every`` seconds, and after tick
  ``cut_after`` cuts the proxy named ``proxy`` (every connection through it), which then
  refuses connections for ``pause`` seconds, while the ticks go on; each tick emitted
  while it refuses is recorded (kind "tick-while-cut", the proxy's name as the sid).
- disconnect: records the reason.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, request, send_file

from flask_realtime import SocketIO, is_recovered, join_room, rooms, socket_data
from support.recorder import Recorder
from support.tcp_proxy import TcpProxy


class RecoveryServer:
    """``socketio.run(app, port=0)`` with recovery on, in a background thread; its
    :attr:`proxies` (by name) are the ways in that a ``ticks`` event may cut."""

    def __init__(self, page: Any = None, **options: Any) -> None:
        self.recorder = Recorder()
        self.proxies: dict[str, TcpProxy] = {}
        self.app, self.socketio = self._make(page, options)
        self._error: list[BaseException] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="interop-recovery", daemon=True)

    def _make(self, page: Any, options: dict[str, Any]) -> tuple[Flask, SocketIO]:
        app = Flask("interop_recovery")
        socketio = SocketIO(app, **options)
        recorder = self.recorder

        if page is not None:
            path, file = page

            @app.get(path)
            def client_page() -> Any:
                return send_file(file, mimetype="text/html")

        @socketio.on("connect")
        def connect() -> None:
            recorder.record_request("connect", {"recovered": is_recovered()})

        @socketio.on("disconnect")
        def disconnect(reason: str) -> None:
            recorder.record_request("disconnect", reason)

        @socketio.on("setup")
        def setup(spec: dict[str, Any]) -> bool:
            join_room(spec["room"])
            socket_data.update(spec["data"])
            return True

        @socketio.on("whoami")
        def whoami() -> dict[str, Any]:
            return {"sid": request.sid,  # type: ignore[attr-defined]
                    "data": dict(socket_data), "rooms": sorted(rooms()),
                    "recovered": is_recovered()}  # fmt: skip

        @socketio.on("ticks")
        def ticks(spec: dict[str, Any]) -> None:
            socketio.start_background_task(self._tick, spec)

        return app, socketio

    def _tick(self, spec: dict[str, Any]) -> None:
        cut_off_until = 0.0
        for n in range(1, spec["count"] + 1):
            if self._stopping.is_set():
                return
            self.socketio.emit("tick", n, to=spec["room"])
            if time.monotonic() < cut_off_until:
                # The proxy refuses every connection: this tick cannot reach the client
                # now; only a replay can bring it.
                self.recorder.record("tick-while-cut", spec["proxy"], n)
            if n == spec["cut_after"]:
                self.proxies[spec["proxy"]].cut(spec["pause"])
                cut_off_until = time.monotonic() + spec["pause"]
            self.socketio.sleep(spec["every"])

    def proxy(self, name: str) -> TcpProxy:
        """A new way in, named ``name``."""
        proxy = self.proxies[name] = TcpProxy(self.port).start()
        return proxy

    def _run(self) -> None:
        try:
            self.socketio.run(self.app, host="127.0.0.1", port=0, debug=False, use_reloader=False)
        except BaseException as exc:  # reported by start()/stop()
            self._error.append(exc)

    def start(self) -> RecoveryServer:
        self._thread.start()
        host = self.socketio.service_for(self.app).host
        if not host.started.wait(10) or host.server is None:
            raise RuntimeError(f"the Socket.IO server did not start: {self._error}")
        self.port = host.server.port
        return self

    def stop(self) -> None:
        """Stop the ticks, the proxies and the server; wait for the handler threads."""
        self._stopping.set()
        for proxy in self.proxies.values():
            proxy.stop()
        self.socketio.stop()
        self._thread.join(15)
        assert not self._thread.is_alive(), "socketio.run() did not return after stop()"
        assert not self._error, self._error
        pool = self.socketio.service_for(self.app).pool
        assert pool.shutdown(timeout=5), "handler threads still running"
