"""The HTTP/1.1 layer over real loopback sockets: chunked bodies, HEAD, 100-continue."""

from __future__ import annotations

import pytest

from support.server_thread import ServerThread

from .http_support import Connect


def test_chunked_request_bodies_reach_wsgi_and_endpoint(
    server: ServerThread, http_client: Connect
) -> None:
    client = http_client(server.port)
    for target, expected in (("/w/up", b"POST /w/up "), ("/rt/up", b"endpoint POST /rt/up ")):
        client.send(
            f"POST {target} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n"
        )
        assert client.read_response().body == expected + b"hello world"


def test_head_response_has_headers_but_no_body(server: ServerThread, http_client: Connect) -> None:
    client = http_client(server.port)
    for target in ("/w/h", "/rt/h"):
        client.request("HEAD", target)
        response = client.read_response(head=True)
        assert response.status == 200
        assert int(response.header("content-length") or 0) > 0
    client.request("GET", "/w/after")  # nothing stray was left on the wire
    assert client.read_response().body == b"GET /w/after "


@pytest.mark.parametrize("target", ["/w/cont", "/rt/cont"])
def test_expect_100_continue_is_answered_before_the_body(
    server: ServerThread, http_client: Connect, target: str
) -> None:
    client = http_client(server.port)
    client.send(
        f"POST {target} HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
        "Expect: 100-continue\r\n\r\n".encode()
    )
    assert client.read_response().status == 100
    client.send(b"data")
    response = client.read_response()
    assert response.status == 200
    assert response.body.endswith(b" data")
