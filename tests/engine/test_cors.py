"""Origin checks and CORS headers (engine/cors.py), alone and through the server."""

from __future__ import annotations

import pytest

from flask_realtime.engine import EngineOptions, EngineResponse, OutgoingMessage
from flask_realtime.engine.cors import cors_headers, origin_allowed, preflight_headers
from flask_realtime.engine.options import CorsOrigins

from .helpers import Exchange, Harness

HOST = {"host": "example.com"}


def allowed(
    origin: str | None,
    cors: CorsOrigins = None,
    scheme: str = "http",
    trust: bool = True,
    **headers: str,
) -> bool:
    request_headers = {**HOST, **{k.replace("_", "-"): v for k, v in headers.items()}}
    if origin is not None:
        request_headers["origin"] = origin
    options = EngineOptions(cors_allowed_origins=cors, trust_forwarded_headers=trust)
    return origin_allowed(options, request_headers, scheme)


# -- origin_allowed ----------------------------------------------------------------------


def test_no_origin_is_always_allowed() -> None:
    assert allowed(None)
    assert allowed(None, ["http://a.example"])
    assert allowed(None, lambda origin: False)


def test_same_origin_by_default() -> None:
    assert allowed("http://example.com")
    assert not allowed("https://example.com")  # another scheme is another origin
    assert not allowed("http://example.com:8080")
    assert not allowed("http://evil.example")
    assert not allowed("null")
    assert allowed("https://example.com", scheme="https")


def test_same_origin_without_a_host_header() -> None:
    options = EngineOptions()
    assert not origin_allowed(options, {"origin": "http://example.com"}, "http")


def test_same_origin_behind_a_proxy() -> None:
    forwarded = {"x_forwarded_host": "public.example", "x_forwarded_proto": "https"}
    assert allowed("https://public.example", **forwarded)
    assert allowed("http://example.com", **forwarded)  # the direct address still counts
    assert not allowed("http://public.example", **forwarded)
    # Several proxies: the first (client-facing) value counts.
    chain = {"x_forwarded_host": "a.example, b.internal", "x_forwarded_proto": "https, http"}
    assert allowed("https://a.example", **chain)
    assert not allowed("https://b.internal", **chain)


def test_forwarded_headers_count_only_when_trusted() -> None:
    # Any client can send them: by default they do not widen the same-origin check.
    forwarded = {"x_forwarded_host": "evil.example", "x_forwarded_proto": "https"}
    assert not allowed("https://evil.example", trust=False, **forwarded)
    assert allowed("http://example.com", trust=False, **forwarded)
    assert not EngineOptions().trust_forwarded_headers


def test_forwarded_proto_alone_applies_to_the_host() -> None:
    assert allowed("https://example.com", x_forwarded_proto="https")


def test_forwarded_host_alone_keeps_the_scheme() -> None:
    assert allowed("http://public.example", x_forwarded_host="public.example")
    assert not allowed("https://public.example", x_forwarded_host="public.example")


def test_forwarded_proto_without_any_host() -> None:
    options = EngineOptions()
    headers = {"origin": "https://example.com", "x-forwarded-proto": "https"}
    assert not origin_allowed(options, headers, "http")


def test_any_origin() -> None:
    assert allowed("http://anything.example", "*")
    assert allowed("null", "*")


def test_one_origin_as_a_string() -> None:
    assert allowed("https://app.example", "https://app.example")
    assert not allowed("https://other.example", "https://app.example")
    assert not allowed("http://example.com", "https://app.example")  # not same-origin either


def test_list_of_origins() -> None:
    origins = ["https://a.example", "https://b.example"]
    assert allowed("https://a.example", origins)
    assert allowed("https://b.example", tuple(origins))
    assert not allowed("https://c.example", origins)


def test_callable_decides() -> None:
    seen: list[str] = []

    def check(origin: str) -> bool:
        seen.append(origin)
        return origin.endswith(".trusted.example")

    assert allowed("https://app.trusted.example", check)
    assert not allowed("https://evil.example", check)
    assert seen == ["https://app.trusted.example", "https://evil.example"]


def test_empty_list_disables_the_check() -> None:
    assert allowed("https://anything.example", [])


# -- cors_headers and preflight_headers --------------------------------------------------


def test_cors_headers_echo_an_allowed_origin() -> None:
    headers = {"origin": "https://a.example"}
    assert cors_headers(EngineOptions(cors_allowed_origins=["https://a.example"]), headers) == [
        ("Access-Control-Allow-Origin", "https://a.example"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Credentials", "true"),
    ]


def test_a_star_answers_a_literal_star_without_credentials() -> None:
    # As Node: any site may call, but never with the user's cookies.
    headers = {"origin": "https://evil.example"}
    assert cors_headers(EngineOptions(cors_allowed_origins="*"), headers) == [
        ("Access-Control-Allow-Origin", "*"),
    ]


def test_cors_headers_without_credentials() -> None:
    options = EngineOptions(cors_allowed_origins=["https://a.example"], cors_credentials=False)
    assert cors_headers(options, {"origin": "https://a.example"}) == [
        ("Access-Control-Allow-Origin", "https://a.example"),
        ("Vary", "Origin"),
    ]


@pytest.mark.parametrize("cors", [None, "*", ["https://a.example"], lambda o: True])
def test_no_cors_headers_without_an_origin(cors: CorsOrigins) -> None:
    assert cors_headers(EngineOptions(cors_allowed_origins=cors), HOST) == []


def test_no_cors_headers_when_disabled() -> None:
    options = EngineOptions(cors_allowed_origins=[])
    assert cors_headers(options, {"origin": "https://a.example"}) == []


def test_preflight_headers() -> None:
    options = EngineOptions(cors_allowed_origins="https://a.example")
    headers = {"origin": "https://a.example", "access-control-request-headers": "x-token"}
    assert preflight_headers(options, headers) == [
        ("Access-Control-Allow-Origin", "https://a.example"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Methods", "OPTIONS, GET, POST"),
        ("Access-Control-Allow-Headers", "x-token"),
        ("Access-Control-Max-Age", "86400"),
    ]


def test_preflight_without_requested_headers() -> None:
    names = [name for name, _ in preflight_headers(EngineOptions(), HOST)]
    assert names == ["Access-Control-Allow-Methods", "Access-Control-Max-Age"]


# -- through the server --------------------------------------------------------------------


def test_same_origin_handshake_gets_cors_headers(h: Harness) -> None:
    exchange = h.handshake(headers={"origin": "http://example.com"})
    assert exchange.status == 200
    assert exchange.header("Access-Control-Allow-Origin") == "http://example.com"
    assert exchange.header("Access-Control-Allow-Credentials") == "true"
    assert exchange.header("Vary") == "Origin"


def test_handshake_without_origin_has_no_cors_headers(h: Harness) -> None:
    exchange = h.handshake()
    assert exchange.status == 200
    assert exchange.header("Access-Control-Allow-Origin") is None


def test_foreign_origin_is_forbidden(h: Harness) -> None:
    exchange = h.handshake(headers={"origin": "http://evil.example"})
    assert exchange.error() == (403, 4, "Not an accepted origin")
    assert exchange.header("Access-Control-Allow-Origin") is None
    assert h.server.sessions == {}
    assert h.handler.events == []


def test_foreign_origin_is_forbidden_on_an_open_session_too(h: Harness) -> None:
    socket = h.open()
    parked = h.get(socket)
    exchange = h.post(socket, "4x", headers={"origin": "http://evil.example"})
    assert exchange.status == 403
    assert h.handler.messages() == []
    assert parked.parked
    assert not socket.closed


def test_forwarded_origin_through_the_server() -> None:
    headers = {
        "origin": "https://public.example",
        "x-forwarded-host": "public.example",
        "x-forwarded-proto": "https",
    }
    assert Harness(EngineOptions()).handshake(headers=headers).status == 403  # not trusted
    trusting = Harness(EngineOptions(trust_forwarded_headers=True))
    assert trusting.handshake(headers=headers).status == 200


def test_https_scheme_through_the_server(h: Harness) -> None:
    exchange = h.handshake(headers={"origin": "https://example.com"}, scheme="https")
    assert exchange.status == 200


@pytest.mark.parametrize(
    ("cors", "origin", "status"),
    [
        ("*", "https://any.example", 200),
        (["https://a.example"], "https://a.example", 200),
        (["https://a.example"], "https://b.example", 403),
        (lambda origin: origin == "https://a.example", "https://a.example", 200),
        (lambda origin: origin == "https://a.example", "https://b.example", 403),
    ],
)
def test_allowed_origins_through_the_server(cors: CorsOrigins, origin: str, status: int) -> None:
    h = Harness(EngineOptions(cors_allowed_origins=cors))
    exchange = h.handshake(headers={"origin": origin})
    assert exchange.status == status
    expected = ("*" if cors == "*" else origin) if status == 200 else None
    assert exchange.header("Access-Control-Allow-Origin") == expected


def test_empty_list_lets_every_origin_through_without_cors_headers() -> None:
    h = Harness(EngineOptions(cors_allowed_origins=[]))
    exchange = h.handshake(headers={"origin": "https://any.example"})
    assert exchange.status == 200
    assert exchange.header("Access-Control-Allow-Origin") is None


def test_errors_carry_cors_headers(h: Harness) -> None:
    origin = {"origin": "http://example.com"}
    for exchange in (
        h.send(h.request(sid="nope", headers=origin)),
        h.handshake(eio="9", headers=origin),
        h.handshake(method="POST", headers=origin),
        h.send(h.request("PUT", sid=h.open().sid, headers=origin)),
    ):
        assert exchange.status == 400
        assert exchange.header("Access-Control-Allow-Origin") == "http://example.com"


def test_polling_answers_carry_cors_headers(h: Harness) -> None:
    origin = {"origin": "http://example.com"}
    socket = h.open()
    parked = h.get(socket, headers=origin)
    posted = h.post(socket, "4x", headers=origin)
    assert posted.header("Access-Control-Allow-Origin") == "http://example.com"
    socket.send(OutgoingMessage("y"))
    assert parked.header("Access-Control-Allow-Origin") == "http://example.com"


def test_options_preflight(h: Harness) -> None:
    headers = {"origin": "http://example.com", "access-control-request-headers": "content-type"}
    exchange = h.send(h.request("OPTIONS", headers=headers))
    assert isinstance(exchange.result, EngineResponse)
    assert exchange.status == 204
    assert exchange.body == b""
    assert exchange.header("Access-Control-Allow-Origin") == "http://example.com"
    assert exchange.header("Access-Control-Allow-Methods") == "OPTIONS, GET, POST"
    assert exchange.header("Access-Control-Allow-Headers") == "content-type"
    assert h.server.sessions == {}
    assert h.handler.events == []


def test_options_preflight_from_a_foreign_origin_is_forbidden(h: Harness) -> None:
    exchange = h.send(h.request("OPTIONS", headers={"origin": "http://evil.example"}))
    assert exchange.status == 403


def test_websocket_checks_the_origin_too(h: Harness) -> None:
    request = h.request(transport="websocket", headers={"origin": "http://evil.example"})
    answer = h.server.check_websocket(request)
    assert isinstance(answer, EngineResponse)
    assert Exchange(answer).error() == (403, 4, "Not an accepted origin")
    same = h.request(transport="websocket", headers={"origin": "http://example.com"})
    assert h.server.check_websocket(same) is None
