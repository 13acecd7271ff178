"""Limits and policies a served app can set (``docs/limits.md``): per-connection packet and
byte rates with their policies, a handler's own rate limit, sessions per client address,
rooms per socket. Each is checked against a running server, while its good clients keep
being served (``World.check``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from runtime.httpkit import RawHttpClient
from support.waiting import wait_until

from .conftest import World, log_lines, serving
from .support import REAPED, TIMEOUT, Closed, RawPolling, RawWebSocket, json_error, open_socketio

# -- the worlds: one server per policy, for this module ------------------------------------


@pytest.fixture(scope="module")
def strict_world() -> Iterator[World]:
    with serving(
        World(
            "limits_strict",
            max_packets_per_second=20,
            max_bytes_per_second=20_000,
            rate_limit_policy="disconnect",
            max_connections_per_address=4,  # the two good clients hold two
            trust_forwarded_headers=True,
            max_rooms_per_socket=3,
        )
    ) as world:
        yield world


@pytest.fixture(scope="module")
def dropping_world() -> Iterator[World]:
    with serving(World("limits_drop", max_packets_per_second=5, rate_limit_policy="drop")) as world:
        yield world


@pytest.fixture(scope="module")
def warning_world() -> Iterator[World]:
    with serving(World("limits_warn", max_packets_per_second=5, rate_limit_policy="warn")) as world:
        yield world


def ready(world: World) -> World:
    world.check()
    world.logs.start_test()
    return world


@pytest.fixture
def strict(strict_world: World) -> World:
    return ready(strict_world)


# -- per-connection rates ------------------------------------------------------------------


def test_a_packet_flood_past_the_rate_is_disconnected(strict: World) -> None:
    ws, sid = open_socketio(strict.port)
    with ws:
        for n in range(200):
            ws.send(f'42["echo","flood {n}"]')
        received = until_closed(ws)
    # told as a server-side disconnect ("io server disconnect": no automatic reconnection)
    assert received[-1] == "41"
    assert strict.seen.wait_for("disconnect", sid) == "server disconnect"
    assert any("over 20 packets/s" in line for line in log_lines(strict))
    strict.check()


def until_closed(ws: RawWebSocket) -> list[str | bytes]:
    """Every packet the server sends until it closes the connection."""
    received: list[str | bytes] = []
    try:
        while True:
            received.append(ws.recv())
    except Closed:
        return received


def test_a_byte_flood_past_the_rate_is_disconnected(strict: World) -> None:
    ws, sid = open_socketio(strict.port)
    blob = "b" * 9_000
    with ws:
        for _ in range(5):  # 45 KB in a few packets: over 20 KB/s, under 20 packets/s
            ws.send(f'42["echo","{blob}"]')
        ws.expect_close()
    assert strict.seen.wait_for("disconnect", sid) == "server disconnect"
    assert any("over 20000 bytes/s" in line for line in log_lines(strict))
    strict.check()


def test_a_client_within_the_rate_is_served(strict: World) -> None:
    ws, sid = open_socketio(strict.port)
    with ws:
        for n in range(10):  # a burst within one second's worth
            ws.send(f'42{n}["echo",{n}]')
        assert [ws.recv() for _ in range(10)] == [f"43{n}[{n}]" for n in range(10)]
    strict.seen.wait_for("disconnect", sid)
    strict.check()


def test_drop_policy_drops_the_excess_and_keeps_the_connection(dropping_world: World) -> None:
    w = ready(dropping_world)
    ws, sid = open_socketio(w.port)
    with ws:
        for n in range(50):
            ws.send(f'42{n}["echo",{n}]')
        answered: list[str | bytes] = []
        marker = '431000["after"]'

        def after_the_flood() -> bool:  # the bucket refills: a later echo is answered
            ws.send('421000["echo","after"]')
            while True:
                try:
                    packet = ws.recv(0.3)
                except TimeoutError:
                    return False
                answered.append(packet)
                if packet == marker:
                    return True

        wait_until(after_the_flood, TIMEOUT, "an echo once the flood is over")
        flood_acks = [p for p in answered if p != marker]
        assert 1 <= len(flood_acks) <= 10, flood_acks  # the burst (5) and what refilled
    w.seen.wait_for("disconnect", sid)
    assert any("dropping a packet" in line for line in log_lines(w))
    w.check()


def test_warn_policy_serves_everything_and_says_so(warning_world: World) -> None:
    w = ready(warning_world)
    ws, sid = open_socketio(w.port)
    with ws:
        for n in range(30):
            ws.send(f'42{n}["echo",{n}]')
        assert [ws.recv() for _ in range(30)] == [f"43{n}[{n}]" for n in range(30)]
    w.seen.wait_for("disconnect", sid)
    assert any("packet let through" in line for line in log_lines(w))
    w.check()


# -- a handler's own rate limit ------------------------------------------------------------


def test_an_event_past_its_handlers_rate_limit_is_dropped(strict: World) -> None:
    ws, sid = open_socketio(strict.port)
    with ws:
        for n in range(1, 5):  # the handler takes 3 a minute
            ws.send(f'42{n}["limited",{n}]')
        ws.send('429["echo","later"]')
        # events of one client are handled in order: the 4th's ack would come before this
        assert [ws.recv() for _ in range(4)] == ["431[1]", "432[2]", "433[3]", '439["later"]']
    strict.seen.wait_for("disconnect", sid)
    assert any("over its rate limit of 3 per 60 s" in line for line in log_lines(strict))
    strict.check()


def test_the_rate_limit_of_an_event_is_per_connection(strict: World) -> None:
    for _ in range(2):
        ws, sid = open_socketio(strict.port)
        with ws:
            ws.send('421["limited","x"]')
            assert ws.recv() == '431["x"]'
        strict.seen.wait_for("disconnect", sid)
    strict.check()


# -- sessions per address ------------------------------------------------------------------


def only_the_good_clients(world: World) -> None:
    """Wait until the sessions of earlier tests are gone: the good clients hold two."""
    wait_until(lambda: world.sessions() == 2, REAPED, "the earlier sessions to close")


def test_sessions_past_the_per_address_cap_get_429(strict: World) -> None:
    only_the_good_clients(strict)
    first, first_sid = open_socketio(strict.port)  # the good clients hold two: 3 of 4
    with first, RawPolling(strict.port):  # 4 of 4
        refused = RawWebSocket(strict.port)
        with refused:
            body = json_error_of(refused, 429)
        assert body["message"] == "Too many connections from this address"
        # behind a trusted proxy, another client's address is counted apart
        other = RawWebSocket(strict.port, headers={"X-Forwarded-For": "203.0.113.9"})
        with other:
            assert other.status == 101
    strict.seen.wait_for("disconnect", first_sid)
    only_the_good_clients(strict)
    again, again_sid = open_socketio(strict.port)  # a slot is free again
    again.close()
    strict.seen.wait_for("disconnect", again_sid)
    strict.check()


def json_error_of(ws: RawWebSocket, status: int) -> dict[str, object]:
    assert ws.status == status, ws.body
    body = json.loads(ws.body)
    assert isinstance(body, dict)
    return body


def test_polling_sessions_count_against_the_per_address_cap(strict: World) -> None:
    only_the_good_clients(strict)
    with RawPolling(strict.port), RawPolling(strict.port), RawHttpClient(strict.port) as http:
        http.request("GET", "/socket.io/?EIO=4&transport=polling")  # 4 of 4 held: refused
        json_error(http.read_response(), 429)
    strict.check()
    only_the_good_clients(strict)  # the abandoned polling sessions are reaped


# -- rooms per socket ----------------------------------------------------------------------


def test_joins_past_the_room_cap_are_refused(strict: World) -> None:
    ws, sid = open_socketio(strict.port)
    with ws:
        for n, room in enumerate(["r1", "r2", "r3"], start=1):  # its own sid room counts
            ws.send(f'42{n}["join","{room}"]')
            assert ws.recv() == f'43{n}["{room}"]'
        ws.send('429["rooms"]')
        assert ws.recv() == f"439[{json.dumps(sorted(['r1', 'r2', sid]))}]".replace(" ", "")
    strict.seen.wait_for("disconnect", sid)
    assert any("max_rooms_per_socket" in line for line in log_lines(strict))
    strict.check()
