"""``ASGIApp`` under a real uvicorn, real clients over 127.0.0.1: a WebSocket client that
stops reading."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import pytest
import websocket

from .engineio_support import Serve

pytestmark = pytest.mark.usefixtures("_no_server_errors")


def test_client_that_stops_reading_is_disconnected(
    serve: Serve,
    raw_ws: Callable[..., websocket.WebSocket],
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = serve(max_ws_queue=16)
    url = served.eio("EIO=4&transport=websocket", ws=True)
    # A small receive window, so the server's writes back up soon.
    stalled = raw_ws(url, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    stalled_sid = json.loads(stalled.recv()[1:])["sid"]
    reader = raw_ws(url)
    reader_sid = json.loads(reader.recv()[1:])["sid"]

    stalled.send("4flood:400:65536")  # 26 MB, and it never reads again
    # 40 kB in all: it fits the socket buffers, so the reader keeps up however slowly it
    # runs here, and a disconnect of it could only come from the stalled one.
    reader.send("4flood:200:200")
    for i in range(200):
        assert reader.recv() == f"4{i}:" + "x" * 200
    assert served.handler.close_reason(stalled_sid) == "transport error"
    assert not served.alive(stalled_sid)
    assert "reads too slowly" in caplog.text

    # The reader was never affected, and is served as before.
    reader.send("4still here")
    assert reader.recv() == "4still here"
    assert served.handler.events("close", reader_sid) == []
