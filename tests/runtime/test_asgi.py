"""``ASGIApp`` under a real uvicorn: real clients over 127.0.0.1.

python-engineio's client for the transports, the upgrade and heartbeats; raw HTTP
(``requests``, plain sockets) and raw WebSockets (websocket-client) for what a client
library hides; the Flask app through a2wsgi on the same port; the ASGI lifespan; and a
WebSocket client that stops reading. Helpers are in ``asgi_support.py``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import pytest
import requests
import websocket

from flask_realtime.engine import EngineOptions

from .asgi_support import (
    DEADLINE,
    EioClient,
    ErrorLog,
    Served,
    make_flask_app,
    start_served,
    wait_until,
)

FAST = EngineOptions(path="engine.io", ping_interval=0.3, ping_timeout=0.2)
"""The timing of the official Engine.IO suite: heartbeats within a test."""
QUIET = EngineOptions(path="engine.io")
"""Default timing (25 s / 20 s): no heartbeat traffic during a test."""

MESSAGES: list[str | bytes] = [
    "hello",
    "h\u00e9llo \u2603",
    b"\x00\x01\xfe\xff",
    b"bin",
    "x" * 3000,
]


# -- fixtures ------------------------------------------------------------------------------


Serve = Callable[..., Served]


@pytest.fixture(scope="module")
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    handler.check()


@pytest.fixture(autouse=True)
def _no_server_errors(error_log: ErrorLog) -> Iterator[None]:
    """Fail the test if a server logged an error during it (or while stopping)."""
    yield
    error_log.check()


@pytest.fixture(scope="module")
def quiet(error_log: ErrorLog) -> Iterator[Served]:
    """One server for the tests that need nothing special: default timing, a Flask app."""
    served = start_served(QUIET, wsgi_app=make_flask_app())
    yield served
    served.uv.stop()


@pytest.fixture(scope="module")
def fast(error_log: ErrorLog) -> Iterator[Served]:
    """One server with 0.3 s / 0.2 s heartbeats."""
    served = start_served(FAST)
    yield served
    served.uv.stop()


@pytest.fixture
def serve(error_log: ErrorLog) -> Iterator[Serve]:
    """``serve(options=QUIET, **asgi_kwargs)``: a server of the test's own, stopped after."""
    started: list[Served] = []

    def start(options: EngineOptions = QUIET, **kwargs: Any) -> Served:
        served = start_served(options, **kwargs)
        started.append(served)
        return served

    yield start
    for served in reversed(started):
        served.uv.stop()


@pytest.fixture
def connect() -> Iterator[Callable[..., EioClient]]:
    """``connect(served, transports)``: a connected python-engineio client, closed after."""
    made: list[EioClient] = []

    def make(served: Served, transports: list[str] | None) -> EioClient:
        client = EioClient()
        made.append(client)
        client.connect(served.url, transports=transports, engineio_path=served.engine.options.path)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def raw_ws() -> Iterator[Callable[..., websocket.WebSocket]]:
    """``raw_ws(url, **kwargs)``: a websocket-client connection, closed after the test."""
    made: list[websocket.WebSocket] = []

    def make(url: str, **kwargs: Any) -> websocket.WebSocket:
        ws = websocket.create_connection(url, timeout=DEADLINE, **kwargs)
        made.append(ws)
        return ws

    yield make
    for ws in made:
        ws.close(timeout=1.0)  # a no-op once the server's close frame was read ...
        ws.shutdown()  # ... so the socket itself is closed here


def round_trip(client: EioClient, served: Served, transport: str) -> None:
    """Every message of MESSAGES comes back; the server saw them, in order, on ``transport``."""
    for message in MESSAGES:
        client.send(message)
    # python-engineio calls the message handler in a new thread per message, so the
    # order of arrival at the client is not the wire order; the server's record is.
    assert sorted(client.next_messages(len(MESSAGES)), key=repr) == sorted(MESSAGES, key=repr)
    seen = served.handler.wait_for(client.sid, "message", count=len(MESSAGES))
    assert [(s.data, s.transport) for s in seen] == [(m, transport) for m in MESSAGES]


def handshake(served: Served) -> dict[str, Any]:
    """Open a polling session with a raw GET; the OPEN packet's JSON."""
    response = requests.get(served.eio("EIO=4&transport=polling"), timeout=DEADLINE)
    assert response.status_code == 200
    assert response.text[0] == "0"
    opened: dict[str, Any] = json.loads(response.text[1:])
    return opened


# -- python-engineio client ------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_client_on_one_transport(
    quiet: Served, connect: Callable[..., EioClient], transport: str
) -> None:
    served = quiet
    client = connect(served, [transport])
    assert client.transport() == transport
    (opened,) = served.handler.wait_for(client.sid, "open")
    assert opened.transport == transport
    round_trip(client, served, transport)


def test_client_upgrades_from_polling(quiet: Served, connect: Callable[..., EioClient]) -> None:
    served = quiet
    client = connect(served, None)
    assert client.transport() == "websocket"
    (opened,) = served.handler.wait_for(client.sid, "open")
    assert opened.transport == "polling"
    wait_until(lambda: served.transport_of(client.sid) == "websocket", what="the upgrade")
    round_trip(client, served, "websocket")


def test_client_disconnect_closes_the_session(
    quiet: Served, connect: Callable[..., EioClient]
) -> None:
    served = quiet
    client = connect(served, ["polling"])
    sid = client.sid
    client.disconnect()
    assert served.handler.close_reason(sid) == "client disconnect"
    assert not served.alive(sid)


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_heartbeats_keep_the_client_connected(
    fast: Served, connect: Callable[..., EioClient], transport: str
) -> None:
    served = fast
    client = connect(served, [transport])
    assert client.ping_interval == 0.3
    assert client.ping_timeout == 0.2
    # Three pings answered: 0.9 s, well past interval + timeout (0.5 s).
    wait_until(lambda: client.pings >= 3, what="three pings from the server")
    assert served.handler.events(client.sid, "close") == []
    assert served.alive(client.sid)
    assert not client.disconnected.is_set()
    client.send("still here")
    assert client.next_messages(1) == ["still here"]


def test_a_silent_client_is_closed_by_ping_timeout(fast: Served) -> None:
    served = fast
    sid = handshake(served)["sid"]  # and never poll again: no pong can come back
    assert served.handler.close_reason(sid) == "ping timeout"
    assert not served.alive(sid)


# -- raw HTTP and WebSocket -----------------------------------------------------------------


def test_handshake_json(fast: Served) -> None:
    served = fast
    opened = handshake(served)
    assert set(opened) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert opened["upgrades"] == ["websocket"]
    assert (opened["pingInterval"], opened["pingTimeout"]) == (300, 200)
    assert opened["maxPayload"] == FAST.max_http_buffer_size
    served.handler.wait_for(opened["sid"], "open")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("EIO=5&transport=polling", 5),
        ("transport=polling", 5),
        ("EIO=4&transport=carrier-pigeon", 0),
        ("EIO=4", 0),
        ("EIO=4&transport=polling&sid=no-such-session", 1),
    ],
)
def test_bad_request_is_400_with_json(quiet: Served, query: str, code: int) -> None:
    served = quiet
    response = requests.get(served.eio(query), timeout=DEADLINE)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]


def test_websocket_with_bad_query_is_refused(
    quiet: Served, raw_ws: Callable[..., websocket.WebSocket]
) -> None:
    served = quiet
    before = len(served.handler.seen)
    # A close before the accept: uvicorn answers the handshake with 403.
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        raw_ws(served.eio("EIO=5&transport=websocket", ws=True))
    assert caught.value.status_code == 403
    assert [s for s in served.handler.seen[before:] if s.kind == "open"] == []


def test_post_answers_ok_and_the_reply_comes_on_the_next_get(quiet: Served) -> None:
    served = quiet
    sid = handshake(served)["sid"]
    url = served.eio(f"EIO=4&transport=polling&sid={sid}")
    with requests.Session() as http:
        posted = http.post(url, data="4hello\x1e4world", timeout=DEADLINE)
        assert (posted.status_code, posted.text) == (200, "ok")
        seen = served.handler.wait_for(sid, "message", count=2)
        assert [s.data for s in seen] == ["hello", "world"]
        polled = http.get(url, timeout=DEADLINE)
        assert (polled.status_code, polled.text) == (200, "4hello\x1e4world")


def test_parked_get_is_answered_when_the_server_sends(quiet: Served) -> None:
    served = quiet
    sid = handshake(served)["sid"]
    url = served.eio(f"EIO=4&transport=polling&sid={sid}")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        poll = pool.submit(requests.get, url, timeout=DEADLINE)
        wait_until(lambda: served.parked(sid), what="the GET to be parked")
        assert not poll.done()
        served.send(sid, "from the server")
        response = poll.result(DEADLINE)
    assert (response.status_code, response.text) == (200, "4from the server")


def test_aborted_parked_get_closes_the_session(quiet: Served) -> None:
    served = quiet
    sid = handshake(served)["sid"]
    target = f"{served.path}?EIO=4&transport=polling&sid={sid}"
    with socket.create_connection(("127.0.0.1", served.uv.port), timeout=DEADLINE) as raw:
        raw.sendall(f"GET {target} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        wait_until(lambda: served.parked(sid), what="the GET to be parked")
    assert served.handler.close_reason(sid) == "transport close"
    assert not served.alive(sid)
    response = requests.get(served.url + target, timeout=DEADLINE)
    assert response.status_code == 400
    assert response.json()["code"] == 1


def upgrade(served: Served, raw_ws: Callable[..., websocket.WebSocket], sid: str) -> Any:
    """Upgrade polling session ``sid`` to a raw WebSocket (probe, then "5")."""
    ws = raw_ws(served.eio(f"EIO=4&transport=websocket&sid={sid}", ws=True))
    ws.send("2probe")
    assert ws.recv() == "3probe"
    ws.send("5")
    wait_until(lambda: served.transport_of(sid) == "websocket", what="the upgrade")
    return ws


def test_second_websocket_for_an_upgraded_sid_is_closed(
    quiet: Served, raw_ws: Callable[..., websocket.WebSocket]
) -> None:
    served = quiet
    sid = handshake(served)["sid"]
    first = upgrade(served, raw_ws, sid)
    second = raw_ws(served.eio(f"EIO=4&transport=websocket&sid={sid}", ws=True))
    opcode, data = second.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1000
    # The first WebSocket carries on.
    first.send("4after")
    assert first.recv() == "4after"
    assert served.handler.events(sid, "close") == []


def test_polling_get_after_upgrade_is_refused(
    quiet: Served, raw_ws: Callable[..., websocket.WebSocket]
) -> None:
    served = quiet
    sid = handshake(served)["sid"]
    upgrade(served, raw_ws, sid)
    response = requests.get(served.eio(f"EIO=4&transport=polling&sid={sid}"), timeout=DEADLINE)
    assert response.status_code == 400
    assert response.json()["code"] == 3


def test_websocket_binary_and_text_frames(
    quiet: Served, raw_ws: Callable[..., websocket.WebSocket]
) -> None:
    served = quiet
    ws = raw_ws(served.eio("EIO=4&transport=websocket", ws=True))
    opened = ws.recv()
    assert isinstance(opened, str)
    assert opened[0] == "0"
    assert json.loads(opened[1:])["upgrades"] == []
    ws.send_binary(b"\x00\xffraw")
    assert ws.recv() == b"\x00\xffraw"
    ws.send("4text")
    assert ws.recv() == "4text"


def test_invalid_websocket_packet_closes_the_session(
    quiet: Served, raw_ws: Callable[..., websocket.WebSocket]
) -> None:
    served = quiet
    ws = raw_ws(served.eio("EIO=4&transport=websocket", ws=True))
    sid = json.loads(ws.recv()[1:])["sid"]
    ws.send("9not a packet")
    assert served.handler.close_reason(sid) == "transport error"
    opcode, _ = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE


SMALL = EngineOptions(path="engine.io", max_http_buffer_size=1000)
"""A 1000-byte maxPayload."""


@pytest.mark.parametrize(
    "too_big",
    [
        "4" + "\u00e9" * 500,  # 501 characters, 1001 bytes in UTF-8
        b"\x00" * 1001,
    ],
)
def test_websocket_message_over_max_payload_closes_the_session(
    serve: Serve, raw_ws: Callable[..., websocket.WebSocket], too_big: str | bytes
) -> None:
    served = serve(SMALL)
    ws = raw_ws(served.eio("EIO=4&transport=websocket", ws=True))
    opened = json.loads(ws.recv()[1:])
    assert opened["maxPayload"] == 1000
    at_limit = "4" + "y" * 999
    ws.send(at_limit)
    assert ws.recv() == at_limit
    if isinstance(too_big, bytes):
        ws.send_binary(too_big)
    else:
        ws.send(too_big)
    assert served.handler.close_reason(opened["sid"]) == "transport error"
    opcode, _ = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert [s.data for s in served.handler.events(opened["sid"], "message")] == ["y" * 999]


def test_polling_post_over_max_payload(serve: Serve) -> None:
    served = serve(SMALL)
    sid = handshake(served)["sid"]
    url = served.eio(f"EIO=4&transport=polling&sid={sid}")
    with requests.Session() as http:
        over = http.post(url, data="4" + "z" * 1000, timeout=DEADLINE)
        assert over.status_code == 400
        assert over.json()["code"] == 3
        assert served.handler.close_reason(sid) == "transport error"
        # Far over the limit: refused before the body is read whole.
        huge = http.post(url, data=b"4" * 70_000, timeout=DEADLINE)
        assert huge.status_code == 413


# -- the Flask app and the client file -------------------------------------------------------


def test_flask_routes_on_the_same_port(quiet: Served) -> None:
    served = quiet
    with requests.Session() as http:
        hello = http.get(served.url + "/hello", timeout=DEADLINE)
        assert (hello.status_code, hello.text) == (200, "hello from flask")
        body = bytes(range(256)) * 40
        echoed = http.post(served.url + "/echo", data=body, timeout=DEADLINE)
        assert (echoed.status_code, echoed.content) == (200, body)
        missing = http.get(served.url + "/nowhere", timeout=DEADLINE)
        assert missing.status_code == 404
        assert "Not Found" in missing.text  # Flask's page, not ours
    assert handshake(served)["sid"]


def test_without_a_wsgi_app_other_paths_are_404(serve: Serve) -> None:
    served = serve()
    response = requests.get(served.url + "/hello", timeout=DEADLINE)
    assert (response.status_code, response.text) == (404, "not found")


@pytest.mark.parametrize(("options", "url_path"), [(QUIET, "/engine.io/"), (None, "/socket.io/")])
def test_client_file_with_etag(serve: Serve, options: EngineOptions | None, url_path: str) -> None:
    served = serve(options or EngineOptions(), wsgi_app=make_flask_app())
    expected = resources.files("flask_realtime.static").joinpath("socket.io.js").read_bytes()
    url = served.url + url_path + "socket.io.js"
    with requests.Session() as http:
        first = http.get(url, timeout=DEADLINE)
        assert first.status_code == 200
        assert first.headers["Content-Type"].startswith("text/javascript")
        assert first.content == expected
        etag = first.headers["ETag"]
        assert etag.startswith('"')
        again = http.get(url, headers={"If-None-Match": etag}, timeout=DEADLINE)
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["ETag"] == etag
        stale = http.get(url, headers={"If-None-Match": '"stale"'}, timeout=DEADLINE)
        assert (stale.status_code, stale.content) == (200, expected)


def test_client_file_not_served_when_disabled(serve: Serve) -> None:
    served = serve(serve_client=False)
    response = requests.get(served.url + "/engine.io/socket.io.js", timeout=DEADLINE)
    assert response.status_code == 400  # an Engine.IO request without EIO
    assert response.json()["code"] == 5


# -- lifespan ------------------------------------------------------------------------------


def test_lifespan_hooks_run_on_the_server_loop(serve: Serve) -> None:
    calls: list[tuple[str, int]] = []

    def on_startup() -> None:
        calls.append(("startup", threading.get_ident()))

    async def on_shutdown() -> None:
        await asyncio.sleep(0)
        calls.append(("shutdown", threading.get_ident()))

    served = serve(on_startup=on_startup, on_shutdown=on_shutdown)
    loop_thread = served.uv.thread.ident
    assert calls == [("startup", loop_thread)]  # before uvicorn reported "started"
    served.uv.stop()
    assert calls == [("startup", loop_thread), ("shutdown", loop_thread)]


def test_async_startup_hook_is_awaited(serve: Serve) -> None:
    done = threading.Event()

    async def on_startup() -> None:
        await asyncio.sleep(0)
        done.set()

    serve(on_startup=on_startup)
    assert done.is_set()


def test_shutdown_disconnects_every_client(serve: Serve, connect: Callable[..., EioClient]) -> None:
    at_shutdown: list[tuple[bool, ...]] = []
    served: Served | None = None

    def on_shutdown() -> None:
        assert served is not None
        at_shutdown.append(tuple(s.closed for s in served.engine.sessions.values()))

    served = serve(FAST, on_shutdown=on_shutdown)
    on_ws = connect(served, ["websocket"])
    on_polling = connect(served, ["polling"])
    ws_sid, polling_sid = on_ws.sid, on_polling.sid  # the client forgets its sid on close
    served.uv.stop()
    for client in (on_ws, on_polling):
        assert client.disconnected.wait(DEADLINE), f"the {client.transport()} client not told"
    # uvicorn closes WebSockets itself (1012) before the lifespan shutdown; the ASGI app
    # closes the sessions left (polling) when it comes, before calling the hook.
    assert served.handler.close_reason(ws_sid) in {"transport close", "server shutting down"}
    assert served.handler.close_reason(polling_sid) == "server shutting down"
    assert len(at_shutdown) == 1
    assert all(at_shutdown[0])  # nothing still open for the layer above when the hook ran


# -- a client that stops reading -----------------------------------------------------------


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
    assert served.handler.events(reader_sid, "close") == []
