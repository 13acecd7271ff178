"""Hostile Engine.IO: invalid and unexpected packets over polling and WebSocket, the
legacy protocol (Engine.IO 3), session ids that are not the caller's, and a flood of
abandoned handshakes."""

from __future__ import annotations

import json
import uuid

import pytest

from runtime.httpkit import RawHttpClient
from support.waiting import wait_until

from .conftest import World
from .support import REAPED, RawPolling, RawWebSocket, json_error, open_socketio

# -- over polling ------------------------------------------------------------------------------


def test_a_parked_poll_whose_client_hangs_up_ends_its_session(w: World) -> None:
    # Our HTTP server parks the GET on the future of its answer before any task runs;
    # the client leaving cancels that future, which tells the session.
    with RawPolling(w.port) as client:
        assert client.post(b"40").status == 200
        packets = client.get().body.decode().split("\x1e")
        [answer] = [packet for packet in packets if packet.startswith("40")]
        sid = json.loads(answer[2:])["sid"]
        w.seen.wait_for("connect", sid)
        client.http.request("GET", client.target(client.sid))  # nothing to read: parked
    assert w.seen.wait_for("disconnect", sid) == "transport close"


@pytest.mark.parametrize(
    "body",
    [
        b"9EVIL",  # unknown packet type
        b"4EVIL\x1e",  # an empty packet after the separator
        b"\xff\xfeEVIL",  # not UTF-8
        b"bEVIL!!!",  # bad base64
        b"4EVIL\x1e" * 20_000,  # more packets than max_payload_packets (and over the size)
    ],
    ids=["type", "empty", "utf8", "base64", "count"],
)
def test_invalid_engineio_payload_over_polling(w: World, body: bytes) -> None:
    with RawPolling(w.port) as attacker:
        attacker.post(b"40")
        connected = attacker.get().body.decode()
        sid = json.loads(connected[2:])["sid"]
        json_error(attacker.post(body), 400)
        assert json_error(attacker.get(), 400)["code"] == 1
        assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


@pytest.mark.parametrize(
    "body", [b"0EVIL", b"5", b"6\x1e0{}"], ids=["open", "upgrade", "noop-open"]
)
def test_unexpected_engineio_packet_over_polling(w: World, body: bytes) -> None:
    with RawPolling(w.port) as attacker:
        attacker.post(b"40")
        sid = json.loads(attacker.get().body.decode()[2:])["sid"]
        attacker.post(body)  # well-formed, but not a packet a client sends
        assert json_error(attacker.get(), 400)["code"] == 1
        assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


# -- over WebSocket ---------------------------------------------------------------------------


@pytest.mark.parametrize("packet", ["9EVIL", "", "0EVIL", "5"], ids=["type", "empty", "open", "up"])
def test_invalid_engineio_packet_over_websocket(w: World, packet: str) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send(packet)
        assert ws.expect_close() in (1000, 1007)
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


def test_flood_of_abandoned_handshakes(w: World) -> None:
    before = w.sessions()
    sids: set[str] = set()
    clients = [RawHttpClient(w.port) for _ in range(3)]
    try:
        for i in range(300):
            client = clients[i % 3]
            client.request("GET", "/socket.io/?EIO=4&transport=polling")
            response = client.read_response()
            assert response.status == 200
            sids.add(json.loads(response.body[1:])["sid"])
    finally:
        for client in clients:
            client.close()
    for _ in range(50):  # and WebSockets, dropped without a close frame
        with RawWebSocket(w.port) as ws:
            opened = ws.recv()
            assert isinstance(opened, str)
            sids.add(json.loads(opened[1:])["sid"])
    assert len(sids) == 350  # all distinct
    assert all(len(sid) >= 20 for sid in sids)
    w.check()  # the server serves while 300 sessions wait for their heartbeat
    wait_until(
        lambda: w.sessions() <= before,
        REAPED,
        lambda: f"the sessions to be reclaimed ({w.sessions() - before} left)",
        interval=0.05,
    )
    w.check()


# -- the legacy protocol ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"99999999999999999999999:4EVIL", "text/plain;charset=UTF-8"),  # huge length
        (b'40:42["echo","EVIL"]', "text/plain;charset=UTF-8"),  # longer than the data
        (b"x:4EVIL", "text/plain;charset=UTF-8"),
        (b"-1:4EVIL", "text/plain;charset=UTF-8"),
        (b"\x00" + b"\x09" * 30 + b"\xff4EVIL", "application/octet-stream"),  # huge length
        (b"\x07\x05\xff4EVIL", "application/octet-stream"),  # not a 0/1 marker
    ],
    ids=["huge-length", "short-data", "not-a-length", "negative", "binary-huge", "binary-kind"],
)
def test_invalid_engineio3_payload(w: World, body: bytes, content_type: str) -> None:
    """The same over Engine.IO 3 (socket.io 2.x clients), whose payloads are framed with
    lengths: a lying length is a 400 and the end of the session, not a crash or a hang."""
    with RawHttpClient(w.port) as http:
        http.request("GET", "/socket.io/?EIO=3&transport=polling")
        opened = http.read_response()
        assert opened.status == 200
        sid = json.loads(opened.body[opened.body.index(b"{") : opened.body.index(b"}") + 1])["sid"]
        target = f"/socket.io/?EIO=3&transport=polling&sid={sid}"
        http.request("POST", target, f"Content-Type: {content_type}", body=body)
        json_error(http.read_response(), 400)
        http.request("GET", target)
        assert json_error(http.read_response(), 400)["code"] == 1
    w.check()


def test_invalid_socketio4_packets_over_engineio3_websocket(w: World) -> None:
    for packet in ['42["connect","EVIL"]', "40/chat?%ZZ=%%EVIL&&=,", '45x-["EVIL"]']:
        with RawWebSocket(w.port, "EIO=3&transport=websocket") as ws:
            opened = ws.recv()
            assert isinstance(opened, str)
            assert opened.startswith("0{")
            assert ws.recv() == "40"  # v3: the server joins "/" unasked
            # v3 tells the client no socket id: learn it from the server's echo handler.
            token = f"who-{uuid.uuid4().hex}"
            ws.send(f'421["echo","{token}"]')
            assert ws.recv() == f'431["{token}"]'
            (echoed,) = [s for s in w.seen.events("echo") if s.data == [token]]
            ws.send(packet)
            if packet.startswith("40/chat"):  # a query string is data, whatever it holds
                assert ws.recv() == "40/chat,"
                continue
            assert ws.expect_close() in (1000, 1007)  # as over Engine.IO 4
        assert w.seen.wait_for("disconnect", echoed.sid) == "transport error"
    w.check()


# -- session ids -----------------------------------------------------------------------------


def test_unknown_sid_over_websocket(w: World) -> None:
    with RawWebSocket(w.port, "EIO=4&transport=websocket&sid=EVIL") as ws:
        assert ws.status == 400
        assert json.loads(ws.body)["code"] == 1
    w.check()


def test_socketio_sid_is_not_a_session_id(w: World) -> None:
    """Apps show ``request.sid`` to others (rooms, presence lists); it must not be a key to
    the connection, which the Engine.IO sid is."""
    good_a = w.good[0]
    public = good_a.sio.get_sid("/")  # python-socketio: .sid is the Engine.IO one
    with RawHttpClient(w.port) as client:
        client.request("GET", f"/socket.io/?EIO=4&transport=polling&sid={public}")
        assert json_error(client.read_response(), 400)["code"] == 1
    with RawWebSocket(w.port, f"EIO=4&transport=websocket&sid={public}") as ws:
        assert ws.status == 400
    assert good_a.sio.get_sid("/") != good_a.sio.eio.sid
    w.check()


def test_another_clients_session_id_over_polling(w: World) -> None:
    """Engine.IO session ids are bearer capabilities (120 random bits): whoever holds one
    may poll that session. What the server must do is what Engine.IO prescribes: a GET
    while the owner's GET is parked is an overlap, answered 400, and the session ends
    (its owner learns of it); a GET between the owner's polls takes what was queued."""
    with RawPolling(w.port) as victim, RawPolling(w.port) as thief:
        victim.post(b"40")
        assert victim.get().body.startswith(b"40{")
        # Between the owner's polls: the holder of the sid gets the queued packets.
        victim.post(b'421["echo","for the victim"]')
        stolen = thief.get(victim.sid)
        assert stolen.status == 200
        assert b'431["for the victim"]' in stolen.body
        # Two GETs at once: whichever comes second is an overlap; the session ends.
        victim.http.request("GET", victim.target(victim.sid))
        thief.http.request("GET", thief.target(victim.sid))
        answers = [victim.http.read_response(), thief.http.read_response()]
        assert sorted(a.status for a in answers) == [200, 400]
        first, second = sorted(answers, key=lambda a: a.status)
        assert first.body == b"1"  # the parked GET learns that the session is closed
        assert json_error(second, 400)["code"] == 3
        assert json_error(victim.get(), 400)["code"] == 1  # the session is closed
    w.check()
