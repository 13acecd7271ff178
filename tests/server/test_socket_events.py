"""A socket's events and acks: handlers, return values as acks, catch-alls, binary."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.server import SocketIOServer

from .fakes import DeferredInvoker, Peer, Recorder


def test_an_event_reaches_its_handler_with_its_arguments(
    server: SocketIOServer, peer: Peer
) -> None:
    got = Recorder()
    server.on("message", got)
    sid = peer.connect()
    peer.send('42["message",1,"2",{"3":[true]}]')
    assert got.calls == [(sid, 1, "2", {"3": [True]})]
    assert peer.take() == []  # no ack asked, none sent


def test_the_return_value_is_the_ack(server: SocketIOServer, peer: Peer) -> None:
    server.on("message-with-ack", lambda sid, *args: args)
    peer.connect()
    peer.send('42456["message-with-ack",1,"2",{"3":[false]}]')
    assert peer.take() == ['43456[1,"2",{"3":[false]}]']


@pytest.mark.parametrize(
    ("result", "ack"),
    [(None, "4312[]"), ("one", '4312["one"]'), ((1, 2), "4312[1,2]"), ([1, 2], "4312[[1,2]]")],
)
def test_how_a_return_value_becomes_ack_arguments(
    server: SocketIOServer, peer: Peer, result: Any, ack: str
) -> None:
    server.on("q", Recorder(result=result))
    peer.connect()
    peer.send('4212["q"]')
    assert peer.take() == [ack]


def test_acks_in_a_custom_namespace(server: SocketIOServer, peer: Peer) -> None:
    server.on("q", Recorder(result=["a"]), namespace="/x")
    peer.connect("/x")
    peer.send('42/x,12["q"]')
    assert peer.take() == ['43/x,12[["a"]]']


def test_binary_events_and_binary_acks(server: SocketIOServer, peer: Peer) -> None:
    got = Recorder()
    server.on("message", got)
    server.on("message-with-ack", lambda sid, *args: args)
    sid = peer.connect()
    peer.send(
        '452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"\x01\x02\x03",
        b"\x04\x05\x06",
    )
    assert got.calls == [(sid, b"\x01\x02\x03", b"\x04\x05\x06")]
    peer.send(
        '452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"\x01\x02\x03",
        b"\x04\x05\x06",
    )
    assert peer.take() == [
        '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"\x01\x02\x03",
        b"\x04\x05\x06",
    ]


async def test_an_async_handler_acks_when_it_returns(server: SocketIOServer, peer: Peer) -> None:
    done = asyncio.Event()

    async def handler(sid: str, value: int) -> int:
        await asyncio.sleep(0)
        done.set()
        return value * 2

    server.on("double", handler)
    peer.connect()
    peer.send('427["double",21]')
    await done.wait()
    await asyncio.sleep(0)
    assert peer.take() == ["437[42]"]


def test_an_event_without_a_handler_is_dropped_without_an_ack(
    server: SocketIOServer, peer: Peer
) -> None:
    peer.connect()
    peer.send('421["nobody"]')
    assert peer.take() == []
    assert not peer.eio.closed


def test_a_catch_all_gets_the_events_without_a_handler(server: SocketIOServer, peer: Peer) -> None:
    specific, anything = Recorder(), Recorder(result="caught")
    server.on("known", specific)
    server.on("*", anything)
    sid = peer.connect()
    peer.send('42["known",1]', '423["other",2,3]')
    assert specific.calls == [(sid, 1)]
    assert anything.calls == [(sid, "other", 2, 3)]
    assert peer.take() == ['433["caught"]']


def test_handlers_for_every_namespace_get_the_namespace(server: SocketIOServer, peer: Peer) -> None:
    anywhere, anything = Recorder(), Recorder()
    server.on("ping", anywhere, namespace="*")
    server.on("*", anything, namespace="*")
    server.on("x", Recorder(), namespace="/chat")
    sid = peer.connect("/chat")
    peer.emit("ping", 1, namespace="/chat")
    peer.emit("pong", 2, namespace="/chat")
    assert anywhere.calls == [(sid, "/chat", 1)]
    assert anything.calls == [(sid, "pong", "/chat", 2)]


def test_events_of_a_connecting_socket_are_dropped(
    make_server: Callable[..., SocketIOServer],
) -> None:
    invoker = DeferredInvoker()
    server = make_server(invoker=invoker)
    server.on("connect", Recorder())
    server.on("msg", Recorder())
    peer = Peer(server)
    peer.send("40", '42["msg"]')
    assert [call.kind for call in invoker.calls] == ["connect"]


def test_an_ack_is_not_sent_once_the_client_left(
    make_server: Callable[..., SocketIOServer],
) -> None:
    invoker = DeferredInvoker()
    server = make_server(invoker=invoker)
    server.on("slow", Recorder())
    peer = Peer(server)
    peer.connect()
    peer.send('421["slow"]')
    call = invoker.pop("event")
    peer.send("41")
    invoker.calls.clear()
    call.done("late")
    assert peer.take() == []


def test_a_return_value_that_cannot_be_encoded_is_logged(
    server: SocketIOServer, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("bad", Recorder(result=object()))
    peer.connect()
    peer.send('421["bad"]')
    assert peer.take() == []
    assert "cannot send the return value" in caplog.text


def test_done_twice_is_ignored_with_a_warning(
    make_server: Callable[..., SocketIOServer], caplog: pytest.LogCaptureFixture
) -> None:
    invoker = DeferredInvoker()
    server = make_server(invoker=invoker)
    server.on("q", Recorder())
    peer = Peer(server)
    peer.connect()
    peer.send('421["q"]')
    call = invoker.pop("event")
    call.done(1)
    call.done(2)
    assert peer.take() == ["431[1]"]
    assert "done() called twice" in caplog.text


# -- the common EVENT, without a Packet (Client.receive, JsonDecoder.feed_event) -------------


def test_an_event_in_the_main_namespace_before_joining_it_is_dropped(
    server: SocketIOServer, peer: Peer
) -> None:
    in_main, in_chat = Recorder(), Recorder()
    server.on("msg", in_main)
    server.on("msg", in_chat, namespace="/chat")
    chat_sid = peer.connect("/chat")
    peer.send('42["msg",1]')  # "/" not joined: nobody to hand it to
    peer.send('421["msg",2]')
    peer.send('42/chat,["msg",3]')
    assert in_main.calls == []
    assert in_chat.calls == [(chat_sid, 3)]
    assert peer.take() == []
    assert not peer.eio.closed


def test_a_malformed_event_in_the_main_namespace_closes_the_connection(
    server: SocketIOServer, peer: Peer
) -> None:
    got = Recorder()
    server.on("msg", got)
    peer.connect()
    peer.send('42["msg",')
    assert got.calls == []
    assert peer.eio.closed


def test_a_reserved_event_name_closes_the_connection(server: SocketIOServer, peer: Peer) -> None:
    peer.connect()
    peer.send('42["disconnect"]')
    assert peer.eio.closed
