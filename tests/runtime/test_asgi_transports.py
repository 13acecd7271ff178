"""``ASGIApp`` under a real uvicorn, real clients over 127.0.0.1: raw HTTP (``requests``)
and raw WebSockets (websocket-client) for what a client library hides."""

from __future__ import annotations

import concurrent.futures
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
import requests
import websocket

from flask_realtime.engine import EngineOptions
from flask_realtime.runtime.asgi import ASGIApp
from flask_realtime.runtime.engineio.teardown import Teardown
from support.waiting import wait_until

from .asgi_support import DEADLINE, Served
from .engineio_support import FAST, Serve, handshake

pytestmark = pytest.mark.usefixtures("_no_server_errors")


def test_handshake_json(fast: Served) -> None:
    served = fast
    opened = handshake(served)
    assert set(opened) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert opened["upgrades"] == ["websocket"]
    assert (opened["pingInterval"], opened["pingTimeout"]) == (300, 200)
    assert opened["maxPayload"] == FAST.max_http_buffer_size
    served.handler.wait_for_events("open", opened["sid"])


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
        seen = served.handler.wait_for_events("message", sid, count=2)
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
    assert served.handler.events("close", sid) == []


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
    assert [s.data for s in served.handler.events("message", opened["sid"])] == ["y" * 999]


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


class _CountingTeardown(Teardown):
    """The teardown budget, counting the jobs it was given."""

    __slots__ = ("given",)

    def __init__(self) -> None:
        super().__init__(budget=0.0)  # nothing fits: every job waits for a later turn
        self.given = 0

    def run(self, job: Callable[[], object]) -> None:
        self.given += 1
        super().run(job)


def test_websocket_leaves_wait_for_the_teardown_budget_and_keep_their_order(
    serve: Serve, raw_ws: Callable[..., websocket.WebSocket]
) -> None:
    """Under ASGI too, a Socket.IO DISCONNECT ("41") and a WebSocket's end go through the
    teardown budget (thousands leaving at once must not hold up the others): here nothing
    fits in a turn, so each waits for a later one, and what the client sent after its
    DISCONNECT is still handled after it."""
    served = serve()
    app = served.uv.app
    assert isinstance(app, ASGIApp)
    teardown = app.teardown = _CountingTeardown()
    clients = [raw_ws(served.eio("EIO=4&transport=websocket", ws=True)) for _ in range(10)]
    for ws in clients:
        opened = ws.recv()
        assert isinstance(opened, str)
        assert opened.startswith("0")
    for ws in clients:
        ws.send("41")
        ws.send("4after")
    for ws in clients:
        assert ws.recv() == "41"  # the echo handler's answers, in the order sent
        assert ws.recv() == "4after"
    assert teardown.given == len(clients)  # each DISCONNECT, none of what followed
    sids = {s.sid for s in served.handler.events("open")}
    for ws in clients:
        ws.close()
    wait_until(lambda: not any(served.alive(sid) for sid in sids), what="every session ended")
    assert teardown.given == 2 * len(clients)  # and each WebSocket's end
