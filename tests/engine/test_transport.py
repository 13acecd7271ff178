"""PollingTransport (engine/transport.py): one parked GET, answered with a payload."""

from __future__ import annotations

import pytest

from flask_realtime.engine import OutgoingMessage, PollingTransport
from flask_realtime.engine.transport import Outgoing
from flask_realtime.protocol import engineio_v3
from flask_realtime.protocol.engineio import Packet, PacketType

T = PacketType


class Answers:
    """A parked GET's responder: records the bodies it is answered with."""

    def __init__(self) -> None:
        self.bodies: list[str | bytes] = []

    def __call__(self, body: str | bytes) -> None:
        self.bodies.append(body)


def test_writable_only_while_a_get_is_parked() -> None:
    transport = PollingTransport()
    assert transport.name == "polling"
    assert not transport.writable
    answers = Answers()
    transport.park(answers)
    assert transport.writable
    transport.send([OutgoingMessage("hi")])
    assert answers.bodies == ["4hi"]
    assert not transport.writable


def test_send_without_a_parked_get_is_dropped() -> None:
    transport = PollingTransport()
    transport.send([OutgoingMessage("lost")])
    answers = Answers()
    transport.park(answers)
    transport.send([OutgoingMessage("kept")])
    assert answers.bodies == ["4kept"]


def test_unpark_forgets_the_get_without_answering() -> None:
    transport = PollingTransport()
    answers = Answers()
    transport.park(answers)
    transport.unpark()
    assert not transport.writable
    transport.close()
    assert answers.bodies == []


@pytest.mark.parametrize(("noop", "body"), [(False, "1"), (True, "6")])
def test_close_answers_the_parked_get(noop: bool, body: str) -> None:
    transport = PollingTransport()
    answers = Answers()
    transport.park(answers)
    transport.close(noop=noop)
    assert answers.bodies == [body]
    assert not transport.writable
    transport.close(noop=noop)
    assert answers.bodies == [body]


def test_v4_render_joins_messages_and_packets() -> None:
    items: list[Outgoing] = [
        OutgoingMessage("a"),
        Packet(T.PING),
        OutgoingMessage(b"\x00"),
        Packet(T.MESSAGE, b"\x01"),
        Packet(T.CLOSE),
    ]
    assert PollingTransport(4).render(items) == "4a\x1e2\x1ebAA==\x1ebAQ==\x1e1"
    assert PollingTransport(4, b64=True).render(items) == "4a\x1e2\x1ebAA==\x1ebAQ==\x1e1"


def test_v3_render_with_b64_is_a_text_payload() -> None:
    items: list[Outgoing] = [OutgoingMessage("\u20ac"), OutgoingMessage(b"\x00"), Packet(T.PONG)]
    body = PollingTransport(3, b64=True).render(items)
    assert body == "2:4\u20ac6:b4AA==1:3"


def test_v3_render_of_text_only_is_a_text_payload() -> None:
    items: list[Outgoing] = [OutgoingMessage("hi"), Packet(T.NOOP)]
    assert PollingTransport(3).render(items) == "3:4hi1:6"


def test_v3_render_with_binary_is_a_binary_payload() -> None:
    items: list[Outgoing] = [OutgoingMessage("hi"), OutgoingMessage(b"\x00\x01")]
    body = PollingTransport(3).render(items)
    assert body == b"\x00\x03\xff4hi\x01\x03\xff\x04\x00\x01"
    assert isinstance(body, bytes)
    packets = engineio_v3.decode_binary_payload(body)
    assert packets == [Packet(T.MESSAGE, "hi"), Packet(T.MESSAGE, b"\x00\x01")]


def test_parked_v3_get_gets_the_rendered_payload() -> None:
    transport = PollingTransport(3)
    answers = Answers()
    transport.park(answers)
    transport.send([OutgoingMessage(b"\xff")])
    assert answers.bodies == [b"\x01\x02\xff\x04\xff"]
