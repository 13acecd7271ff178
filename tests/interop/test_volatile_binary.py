"""Volatile events with binary attachments reach python-socketio whole or not at all.

A packet with attachments is several Engine.IO messages (its text head, then each
attachment). Dropped one by one, a slow client could get a head without its
attachments and take the next packets for them: python-socketio then lost the text
events after a dropped volatile one (2 of 1,000 here over long-polling) and received
corrupted events. Dropped whole, as Node drops them, every non-volatile event arrives and
every volatile one that arrives is intact.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from flask import Flask, request

from e2e.live_server import LiveServer
from flask_realtime import SocketIO
from support.pysio import in_order
from support.waiting import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

PAIRS = 1000
BLOB = b"\x01\x02" * 10


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    app = Flask(__name__)
    sio = SocketIO(app)

    @sio.on("stream")
    async def stream(count: int) -> str:
        sid = request.sid  # type: ignore[attr-defined]
        for n in range(count):
            sio.emit("blob", {"n": n, "data": BLOB}, to=sid, volatile=True)
            sio.emit("state", n, to=sid)
        return "streamed"

    with LiveServer(app, sio) as live:
        yield live


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_every_state_arrives_and_every_volatile_blob_is_whole(
    server: LiveServer, transport: str
) -> None:
    failures: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: failures.append(args.exc_value)  # the client's threads
    client = in_order(socketio.Client(reconnection=False))
    states: list[Any] = []
    blobs: list[Any] = []
    client.on("state", states.append)
    client.on("blob", blobs.append)
    try:
        client.connect(server.url, transports=[transport], wait_timeout=10)
        assert client.call("stream", PAIRS, timeout=20) == "streamed"
        wait_until(lambda: len(states) >= PAIRS, 20, "every state event")
        assert states == list(range(PAIRS))
        assert all(blob["data"] == BLOB for blob in blobs), blobs[:3]
        assert [blob["n"] for blob in blobs] == sorted({blob["n"] for blob in blobs})
        if transport == "websocket":  # never congested here: nothing may be dropped
            assert len(blobs) == PAIRS
        assert failures == []
    finally:
        client.disconnect()
        threading.excepthook = previous
