"""Hostile HTTP: garbage instead of a request, huge heads and targets, bad Engine.IO
queries, and POST bodies past ``max_http_buffer_size``: each gets a JSON error."""

from __future__ import annotations

import contextlib

import pytest

from runtime.httpkit import RawHttpClient

from .conftest import World
from .support import EVIL, MAX_PAYLOAD, TIMEOUT, RawPolling, json_error

# -- HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03EVIL\r\n\r\n",  # a TLS ClientHello
        b"\x00\x01\x02EVIL\xff\xfe\r\n\r\n",
        b"EVIL /socket.io/?EIO=4 HTTP/1.1\r\nHost: x\r\n\r\n",  # unknown method
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nEVIL\r\n\r\n",  # no colon
        b"GET /socket.io/?EIO=4 HTTP/1.1\r\nHost: x\r\nContent-Length: EVIL\r\n\r\n",
        b"GET EVIL HTTP/1.1\r\nHost: x\r\n\r\n",  # not a path
    ],
    ids=["tls", "binary", "method", "header", "content-length", "target"],
)
def test_garbage_instead_of_http(w: World, garbage: bytes) -> None:
    with RawHttpClient(w.port) as client:
        client.send(garbage)
        json_error(client.read_response(), 400)
        assert client.wait_closed(TIMEOUT), "the connection stayed open after garbage"
    w.check()


@pytest.mark.parametrize(
    ("head", "status"),
    [
        ("X-Evil: " + "E" * (80 * 1024), 431),  # one huge header (limit 64 KiB)
        ("\r\n".join(f"X-Evil-{i}: EVIL" for i in range(150)), 431),  # too many headers
    ],
    ids=["huge-header", "header-count"],
)
def test_huge_request_head(w: World, head: str, status: int) -> None:
    with RawHttpClient(w.port) as client:
        client.send(
            b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"
            + f"{head}\r\n\r\n".encode()
        )
        json_error(client.read_response(), status)
        assert client.wait_closed(TIMEOUT)
    w.check()


def test_huge_request_target(w: World) -> None:
    with RawHttpClient(w.port) as client:
        client.request("GET", "/socket.io/?EIO=4&transport=polling&evil=" + "E" * 10_000)
        json_error(client.read_response(), 414)
        assert client.wait_closed(TIMEOUT)
    w.check()


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("/socket.io/?EIO=9&transport=polling", 5),  # unsupported protocol version
        ("/socket.io/?transport=polling", 5),
        ("/socket.io/?EIO=4&transport=EVIL", 0),  # unknown transport
        ("/socket.io/?EIO=4&transport=polling&sid=EVIL", 1),  # unknown sid
        ("/socket.io/?EIO=4&transport=polling&sid=" + "%FF%00" * 500, 1),
        ("/socket.io/?EIO=4&transport=websocket", 3),  # websocket without an upgrade
    ],
)
def test_bad_engineio_requests_get_a_json_400(w: World, target: str, code: int) -> None:
    with RawHttpClient(w.port) as client:
        client.request("GET", target)
        assert json_error(client.read_response(), 400)["code"] == code
    w.check()


def test_post_without_a_session_and_odd_methods(w: World) -> None:
    with RawHttpClient(w.port) as client:
        client.request("POST", "/socket.io/?EIO=4&transport=polling", body=b"4EVIL")
        assert json_error(client.read_response(), 400)["code"] == 2  # bad handshake method
    with RawPolling(w.port) as attacker:
        attacker.http.request("PUT", attacker.target(attacker.sid), body=b"4EVIL")
        assert json_error(attacker.http.read_response(), 400)["code"] == 3
    w.check()


# -- polling: oversized and invalid payloads -------------------------------------------------


def test_post_over_max_http_buffer_size_closes_the_session(w: World) -> None:
    with RawPolling(w.port) as attacker:
        attacker.post(b"40")
        body = (b'42["echo","' + EVIL.encode() * (MAX_PAYLOAD // 4) + b'"]')[: MAX_PAYLOAD + 100]
        error = json_error(attacker.post(body), 400)
        assert "max_http_buffer_size" in error["message"]
        assert json_error(attacker.get(), 400)["code"] == 1  # the session is gone
    w.check()


def test_post_body_announced_too_large_gets_413(w: World) -> None:
    with RawPolling(w.port) as attacker:
        attacker.http.send(
            f"POST {attacker.target(attacker.sid)} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {50 * MAX_PAYLOAD}\r\n\r\n".encode()
        )
        json_error(attacker.http.read_response(), 413)  # before any of the body was sent
        assert attacker.http.wait_closed(TIMEOUT)
    w.check()


def test_chunked_post_streaming_past_the_limit_gets_413(w: World) -> None:
    with RawPolling(w.port) as attacker:
        attacker.http.send(
            f"POST {attacker.target(attacker.sid)} HTTP/1.1\r\nHost: x\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"%x\r\n%s\r\n" % (16 * 1024, b"E" * 16 * 1024)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(40):  # 640 KiB, five times the limit (with framing allowance)
                attacker.http.send(chunk)
        json_error(attacker.http.read_response(), 413)
    w.check()
