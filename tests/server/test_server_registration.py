"""The server's API: registration of handlers and namespaces, and its options."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.server import HandlerRegistry, InMemoryAdapter, SocketIOServer

from .fakes import Peer, Recorder


def test_registration_checks_its_arguments(server: SocketIOServer) -> None:
    with pytest.raises(ConfigurationError):
        server.on("x", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        server.on(3, Recorder())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        server.on_error(None, 3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        server.on("x", Recorder(), namespace=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        server.dynamic_namespace("/not-a-pattern")  # type: ignore[arg-type]


def test_options_are_checked(make_server: Callable[..., SocketIOServer]) -> None:
    with pytest.raises(ConfigurationError):
        make_server(max_pending_acks=0)
    with pytest.raises(ConfigurationError):
        make_server(namespaces="/chat")


def test_a_namespace_name_without_its_slash_gets_one(server: SocketIOServer) -> None:
    got = Recorder()
    server.on("msg", got, namespace="chat")
    peer = Peer(server)
    sid = peer.connect("/chat")
    peer.emit("msg", namespace="/chat")
    assert got.calls == [(sid,)]


def test_servers_sharing_a_registry_serve_the_same_handlers(
    make_server: Callable[..., SocketIOServer],
) -> None:
    registry = HandlerRegistry()
    one, two = make_server(registry=registry), make_server(registry=registry)
    assert one.registry is two.registry is registry
    got = Recorder(result="ok")
    one.on("msg", got, "/chat")  # registered through one server, after both exist
    for server in (one, two):
        peer = Peer(server)
        peer.connect("/chat")
        peer.send('42/chat,1["msg"]')
        assert peer.take() == ['43/chat,1["ok"]']
    assert len(got.calls) == 2
    assert make_server().registry is not registry


def test_the_server_is_an_engine_handler_for_v3_and_v4_sessions(server: SocketIOServer) -> None:
    assert server.parser is not server.legacy_parser
    v3, v4 = Peer(server, protocol=3), Peer(server)
    assert server._clients[v3.eio].parser is server.legacy_parser  # type: ignore[index]
    assert server._clients[v4.eio].parser is server.parser  # type: ignore[index]


async def test_start_and_stop_open_and_close_the_adapter_once(
    make_server: Callable[..., SocketIOServer],
) -> None:
    events: list[str] = []

    class ClusterAdapter(InMemoryAdapter):
        async def open(self) -> None:
            events.append("open")

        async def close(self) -> None:
            events.append("close")

    server = make_server(adapter=ClusterAdapter())
    await server.stop()  # not started: nothing to close
    await server.start()
    await server.start()
    await server.stop()
    await server.stop()
    assert events == ["open", "close"]
