"""Hostile Socket.IO packets: malformed or reserved packets, attachment abuse, unknown
namespaces, harmless oddities, and JSON text that Python cannot encode again."""

from __future__ import annotations

import pytest

from .conftest import World, log_lines
from .support import open_socketio

# -- Socket.IO packets -----------------------------------------------------------------------

FATAL_PACKETS = {
    "bad-json": '42["echo","EVIL"',
    "event-not-array": '42{"EVIL":1}',
    "event-name-not-string": '42[1,"EVIL"]',
    "empty-event": "42[]",
    "null-payload": "42null",
    "unknown-type": "49EVIL",
    "thousand-attachments": '451000-["echo",{"_placeholder":true,"num":0},"EVIL"]',
    "bad-attachment-count": '45x-["echo","EVIL"]',
    "negative-ack-id": '42-1["echo","EVIL"]',
    "huge-ack-id": "42" + "9" * 40 + '["echo","EVIL"]',
    "namespace-without-slash": '42chat,["echo","EVIL"]',
    "connect-without-slash": "40chat,",
    "reserved-connect": '42["connect","EVIL"]',
    "reserved-disconnect": '42["disconnect","EVIL"]',
    "reserved-connect-error": '42["connect_error","EVIL"]',
    "second-connect": "40",
    "client-connect-error": '44{"message":"EVIL"}',
    "disconnect-with-data": '41"EVIL"',
    "connect-with-string-auth": '40/chat,"EVIL"',
    "deep-nesting": '42["echo",' + "[" * 30_000 + '"EVIL"' + "]" * 30_000 + "]",
    "ack-not-array": '431{"EVIL":1}',
    # 255 levels: orjson would read it but could not write its ack (it writes 254)
    "deeper-than-the-encoder": '421["echo",' + "[" * 254 + '"EVIL"' + "]" * 254 + "]",
}


@pytest.mark.parametrize("packet", FATAL_PACKETS.values(), ids=FATAL_PACKETS.keys())
def test_invalid_socketio_packet_closes_the_attacker(w: World, packet: str) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send(packet)
        ws.expect_close()
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    assert any("closing" in line for line in log_lines(w))  # a log line says why
    w.check()


BINARY_ABUSE = {
    "binary-without-header": [b"EVIL"],
    "placeholder-out-of-range": ['451-["echo",{"_placeholder":true,"num":5}]', b"EVIL"],
    "text-while-attachments-due": ['452-["echo",{"_placeholder":true,"num":0}]', b"E", "42[]"],
    "placeholder-num-not-int": ['451-["echo",{"_placeholder":true,"num":"0"}]', b"EVIL"],
}


@pytest.mark.parametrize("packets", BINARY_ABUSE.values(), ids=BINARY_ABUSE.keys())
def test_binary_attachment_abuse(w: World, packets: list[str | bytes]) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        for packet in packets:
            ws.send(packet)
        ws.expect_close()
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


def test_attachments_announced_and_never_sent(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send('455-["echo",{"_placeholder":true,"num":0},"EVIL"]')
        ws.send(b"E")  # one of five
        w.check()  # the server waits for the rest; nobody else does
        ws.stays_open(0.3)
        ws.send('421["echo","EVIL"]')  # text while four attachments are due
        ws.expect_close()
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()


def test_connect_to_an_unknown_namespace_gets_connect_error(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send("40/nowhere,")
        assert ws.recv() == '44/nowhere,{"message":"Invalid namespace"}'
        ws.send('42/nowhere,["echo","EVIL"]')  # not joined: dropped
        ws.send('421["echo","still here"]')  # the connection goes on
        assert ws.recv() == '431["still here"]'
    w.seen.wait_for("disconnect", sid)
    w.check()


@pytest.mark.parametrize(
    "packet",
    [
        '43999["EVIL"]',  # an ack nobody waits for
        '42["no such event","EVIL"]',  # no handler
        '42/chat,["echo","EVIL"]',  # a namespace the client did not join
        "41/chat,",  # leaving a namespace it is not in
    ],
    ids=["stray-ack", "no-handler", "not-joined", "stray-disconnect"],
)
def test_harmless_oddities_are_dropped(w: World, packet: str) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send(packet)
        ws.send('427["echo","still here"]')
        assert ws.recv() == '437["still here"]'
    w.seen.wait_for("disconnect", sid)
    w.check()


def test_the_deepest_packet_the_encoder_writes_gets_its_ack(w: World) -> None:
    ws, sid = open_socketio(w.port)
    deep = "[" * 253 + '"ok"' + "]" * 253  # in the packet's array, or the ack's: 254 levels
    with ws:
        ws.send(f'421["echo",{deep}]')
        assert ws.recv() == f"431[{deep}]"
    w.seen.wait_for("disconnect", sid)
    w.check()


def test_largest_ack_id_is_answered(w: World) -> None:
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send('429999999999999999["echo","ok"]')  # 16 digits: exact in JavaScript
        assert ws.recv() == '439999999999999999["ok"]'
    w.seen.wait_for("disconnect", sid)
    w.check()


# -- text that Python cannot encode --------------------------------------------------------------


LONE_SURROGATES = {
    "broadcast": '42["broadcast","\\ud800EVIL"]',
    "echo": '421["echo",{"EVIL":"\\udc00"}]',
}


@pytest.mark.parametrize("packet", LONE_SURROGATES.values(), ids=LONE_SURROGATES.keys())
def test_lone_surrogate_escape(either: World, packet: str) -> None:
    """JSON may escape a lone UTF-16 surrogate (``"\\ud800"``); Python can decode it into a
    ``str`` but not encode that ``str`` as UTF-8 again. The decoder must refuse it (orjson
    does), or the reply, or a broadcast to everyone, fails later on the loop."""
    w = either
    ws, sid = open_socketio(w.port)
    with ws:
        ws.send(packet)
        ws.expect_close()
    assert w.seen.wait_for("disconnect", sid) == "transport error"
    w.check()
