"""A served app with one handler of each kind, and python-socketio clients, for the
observability tests (metrics, connection log, admin protocol)."""

from __future__ import annotations

import threading
from typing import Any

import socketio
from flask import Flask

from flask_realtime import SocketIO, emit, join_room


def make_app(name: str, **options: Any) -> tuple[Flask, SocketIO]:
    """``echo`` (def: emits ``echo`` back and acks), ``aecho`` (async def: acks), ``join``
    (def: joins a room), ``boom`` (def: raises), ``block`` (def: sets the event
    ``app.config["BLOCKED"]``, then waits, at most 10 s, for the event ``app.config["GATE"]``)."""
    app = Flask(name)
    sio = SocketIO(app, **options)

    @sio.on("echo")
    def on_echo(data: Any) -> Any:
        emit("echo", data)
        return data

    @sio.on("aecho")
    async def on_aecho(data: Any) -> Any:
        return data

    @sio.on("join")
    def on_join(room: str) -> str:
        join_room(room)
        return room

    app.config["GATE"] = threading.Event()
    app.config["BLOCKED"] = threading.Event()

    @sio.on("block")
    def on_block() -> None:
        app.config["BLOCKED"].set()
        app.config["GATE"].wait(10)

    @sio.on("boom")
    def on_boom() -> None:
        raise RuntimeError("boom (expected by the test)")

    return app, sio


class Client:
    """A python-socketio client; ``disconnected`` is set when it is disconnected."""

    def __init__(self, url: str, *, transports: list[str] | None = None,
                 namespaces: list[str] | None = None, auth: Any = None,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        self.sio = socketio.Client(reconnection=False, handle_sigint=False)
        self.disconnected = threading.Event()
        self.events: list[tuple[str, str, tuple[Any, ...]]] = []
        self.lock = threading.Lock()
        self.refused: list[Any] = []
        for ns in namespaces or ["/"]:
            self.sio.on("disconnect", lambda *a: self.disconnected.set(), namespace=ns)
            self.sio.on("*", self._catch(ns), namespace=ns)
            self.sio.on("connect_error", self.refused.append, namespace=ns)
        self.sio.connect(url, transports=transports, namespaces=namespaces, auth=auth,
                         headers=headers or {}, wait_timeout=5)  # fmt: skip

    def _catch(self, namespace: str) -> Any:
        def record(event: str, *args: Any) -> None:
            with self.lock:
                self.events.append((namespace, event, args))

        return record

    def received(self, event: str, namespace: str = "/") -> list[tuple[Any, ...]]:
        with self.lock:
            return [args for ns, ev, args in self.events if ev == event and ns == namespace]

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


AUTH = {"username": "admin", "password": "pw"}
"""The credentials the admin UI tests log in with (``instrument(auth=...)``, hashed)."""


def admin(url: str, auth: Any = AUTH) -> Client:
    """A client logged in to the admin UI's namespace, as the official UI does."""
    return Client(url, namespaces=["/admin"], auth=auth)
