"""The engine's HTTP shapes (engine/http.py): requests, error answers, compression."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any
from urllib.parse import parse_qs

import pytest

from flask_realtime.engine import EngineError, EngineRequest, EngineResponse
from flask_realtime.engine.http import compress, error_response, parse_query


def request(query_string: str) -> EngineRequest:
    return EngineRequest("GET", "/socket.io/", query_string, {})


def test_query_is_parsed_once_with_blank_values() -> None:
    req = request("EIO=4&transport=polling&b64=&t=a%20b&x=1&x=2")
    assert req.query == {
        "EIO": ["4"],
        "transport": ["polling"],
        "b64": [""],
        "t": ["a b"],
        "x": ["1", "2"],
    }
    assert req.query is req.query


def test_arg_is_the_first_value_or_none() -> None:
    req = request("x=1&x=2&empty=")
    assert req.arg("x") == "1"
    assert req.arg("empty") == ""
    assert req.arg("missing") is None


def test_request_defaults() -> None:
    req = request("")
    assert (req.body, req.remote_addr, req.scheme) == (b"", None, "http")
    assert req.query == {}


JSON = [("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff")]
"""The headers of every error response: the client's input in a message is never sniffed."""


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (EngineError.UNKNOWN_TRANSPORT, 0, "Transport unknown"),
        (EngineError.UNKNOWN_SID, 1, "Session ID unknown"),
        (EngineError.BAD_HANDSHAKE_METHOD, 2, "Bad handshake method"),
        (EngineError.BAD_REQUEST, 3, "Bad request"),
        (EngineError.FORBIDDEN, 4, "Forbidden"),
        (EngineError.UNSUPPORTED_PROTOCOL_VERSION, 5, "Unsupported protocol version"),
    ],
)
def test_error_codes_and_default_messages(error: EngineError, code: int, message: str) -> None:
    response = error_response(error)
    assert response.status == (403 if error is EngineError.FORBIDDEN else 400)
    assert response.headers == JSON
    assert json.loads(response.body) == {"code": code, "message": message}
    assert error.default_message == message


def test_error_with_message_status_and_headers() -> None:
    extra = [("Vary", "Origin")]
    response = error_response(EngineError.BAD_REQUEST, "Too many", status=503, headers=extra)
    assert response == EngineResponse(
        503,
        [*JSON, ("Vary", "Origin")],
        b'{"code":3,"message":"Too many"}',
    )
    # The headers given are not changed, and answers do not share a header list.
    assert extra == [("Vary", "Origin")]
    assert error_response(EngineError.BAD_REQUEST).headers == JSON


BODY = b"hello " * 100


@pytest.mark.parametrize(
    "accept",
    ["gzip", "GZIP", "deflate, gzip", "gzip;q=0.5", "br, gzip ;q=1", "x;q=0, gzip"],
)
def test_gzip_when_accepted(accept: str) -> None:
    packed = compress(BODY, accept)
    assert packed is not None
    data, encoding = packed
    assert encoding == "gzip"
    assert gzip.decompress(data) == BODY
    assert compress(BODY, accept) == packed  # no timestamp: the same bytes each time


@pytest.mark.parametrize("accept", ["deflate", "gzip;q=0, deflate", "GZIP; Q=0.0, deflate;q=0.1"])
def test_deflate_when_gzip_is_not_accepted(accept: str) -> None:
    packed = compress(BODY, accept)
    assert packed is not None
    data, encoding = packed
    assert encoding == "deflate"
    assert zlib.decompress(data) == BODY


@pytest.mark.parametrize(
    "accept", ["", "identity", "br", "gzip;q=0", "gzip;q=0.000, deflate;q=0", "gzip;q=zero"]
)
def test_nothing_acceptable(accept: str) -> None:
    assert compress(BODY, accept) is None


@pytest.mark.parametrize(
    "query",
    [
        "",
        "EIO=4&transport=polling&t=Pb3x&sid=a-b_c",
        "a=1&a=2&b",
        "&&a=&=x&",
        "a=b=c",
        "x=%20y&z=a+b",  # escaped: parse_qs itself
        ";a=1",
    ],
)
def test_parse_query_answers_what_parse_qs_answers(query: str) -> None:
    assert parse_query(query) == parse_qs(query, keep_blank_values=True)


def test_an_unescaped_query_is_split_without_urllib(monkeypatch: pytest.MonkeyPatch) -> None:
    # The per-request query of Engine.IO is split by hand: urllib's parse_qs costs ~15
    # Python calls a request.
    import flask_realtime.engine.http as engine_http

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parse_qs called")

    monkeypatch.setattr(engine_http, "parse_qs", refuse)
    assert parse_query("EIO=4&transport=polling&t=1&t=2") == {
        "EIO": ["4"], "transport": ["polling"], "t": ["1", "2"],
    }  # fmt: skip


def test_a_session_id_is_120_random_bits_in_url_safe_base64() -> None:
    import base64
    import re

    from flask_realtime.engine.engine_server import new_sid

    ids = [new_sid() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for sid in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{20}", sid), sid
        assert len(base64.urlsafe_b64decode(sid)) == 15
