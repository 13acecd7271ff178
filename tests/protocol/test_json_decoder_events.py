"""``JsonDecoder.feed_event``: the common EVENT without a Packet, checked as ``feed`` checks it.

Whatever it takes, ``feed`` gives the same packet; whatever it passes on (None), ``feed``
decodes or refuses.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest

from flask_realtime.exceptions import ProtocolError
from flask_realtime.protocol.parsers import MAX_JSON_DEPTH, JsonParser
from flask_realtime.protocol.socketio import PacketType


def _both(text: str) -> tuple[Any, Any]:
    """What feed_event and feed make of ``text``, each on a fresh decoder."""
    parser = JsonParser()
    fast = parser.decoder().feed_event(text)
    packet = parser.decoder().feed(text)
    return fast, packet


@pytest.mark.parametrize(
    ("text", "data", "ack_id"),
    [
        ('2["echo",1]', ["echo", 1], None),
        ('2["echo"]', ["echo"], None),
        ('212["echo",{"a":[1,2]}]', ["echo", {"a": [1, 2]}], 12),
        ('20["x"]', ["x"], 0),
        ('2007["x"]', ["x"], 7),
        ('29007199254740991["x"]', ["x"], 9007199254740991),
    ],
)
def test_a_plain_event_in_the_main_namespace_is_taken(
    text: str, data: list[Any], ack_id: int | None
) -> None:
    fast, packet = _both(text)
    assert fast == (data, ack_id)
    assert packet.type is PacketType.EVENT
    assert packet.namespace == "/"
    assert (packet.data, packet.id) == fast


@pytest.mark.parametrize(
    "text",
    [
        '2/chat,["echo"]',  # another namespace
        '2/chat,5["echo"]',
        '3["ok"]',  # an ACK
        '0{"token":1}',  # a CONNECT
        "1",
        '51-["img",{"_placeholder":true,"num":0}]',  # binary
    ],
)
def test_other_packets_are_left_to_feed(text: str) -> None:
    fast, packet = _both(text)
    assert fast is None
    assert packet is None or packet.type is not PacketType.EVENT or packet.namespace != "/"


@pytest.mark.parametrize(
    "text",
    [
        "2",  # no payload
        "2null",
        "2[]",
        "2[1]",
        '2{"a":1}',
        '2"echo"',
        '2["connect"]',  # reserved names
        '2["disconnect",1]',
        '212345678901234567["x"]',  # an ack id of 17 digits
        '2٣["x"]',  # a digit, but not an ASCII one
    ],
)
def test_what_feed_refuses_is_passed_on_for_feed_to_refuse(text: str) -> None:
    parser = JsonParser()
    assert parser.decoder().feed_event(text) is None
    with pytest.raises(ProtocolError):
        parser.decoder().feed(text)


@pytest.mark.parametrize("text", ['2["echo",', '2["echo"]]', "27[nope]", '2["a"]x'])
def test_invalid_json_is_a_protocol_error(text: str) -> None:
    with pytest.raises(ProtocolError, match="invalid JSON"):
        JsonParser().decoder().feed_event(text)


def test_too_deep_a_payload_is_a_protocol_error() -> None:
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(ProtocolError, match="nested deeper"):
        JsonParser().decoder().feed_event(f'2["echo",{deep}]')
    fine = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    taken = JsonParser().decoder().feed_event(f'2["echo",{fine}]')
    assert taken is not None


def test_a_text_event_while_attachments_are_due_is_left_to_feed() -> None:
    decoder = JsonParser().decoder()
    assert decoder.feed('51-["img",{"_placeholder":true,"num":0}]') is None
    assert decoder.feed_event('2["echo"]') is None
    with pytest.raises(ProtocolError, match="attachment"):
        decoder.feed('2["echo"]')


def test_an_idle_decoder_holds_no_container_for_the_collector() -> None:
    """A connection's decoder lives as long as it: between packets it refers to no list
    (the attachments' is made while a binary packet waits, and let go after), so each
    idle connection costs the garbage collector one object fewer."""
    decoder = JsonParser().decoder()

    def containers() -> list[object]:
        return [o for o in gc.get_referents(decoder) if isinstance(o, (list, dict))]

    assert containers() == []
    assert decoder.feed('51-["img",{"_placeholder":true,"num":0}]') is None
    assert decoder.awaiting == 1
    packet = decoder.feed(b"\x01\x02")
    assert packet is not None
    assert packet.data == ["img", b"\x01\x02"]
    assert decoder.awaiting == 0
    assert containers() == []
    assert decoder.feed('51-["img",{"_placeholder":true,"num":0}]') is None
    decoder.reset()  # a binary packet dropped half-received
    assert decoder.awaiting == 0
    assert containers() == []
