"""OutgoingMessage and ws_frame (engine/message.py): each wire form, built once.

Frames are checked twice: their header bytes against RFC 6455 section 5.2, and by the
``websockets`` library parsing them back as a client would.
"""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from flask_realtime.engine import OutgoingMessage
from flask_realtime.engine.message import OP_BINARY, OP_TEXT, ws_frame

SIZES = [0, 1, 125, 126, 127, 65535, 65536]


def rfc6455_header(opcode: int, size: int) -> bytes:
    """FIN set, no mask; the length in 7 bits, or 126 + 16 bits, or 127 + 64 bits."""
    first = bytes([0x80 | opcode])
    if size <= 125:
        return first + bytes([size])
    if size <= 0xFFFF:
        return first + bytes([126, size >> 8, size & 0xFF])
    return first + bytes([127]) + size.to_bytes(8, "big")


def parse(frame: bytes) -> Frame:
    """Parse one server-to-client frame with websockets, as its client does."""
    reader = StreamReader()
    reader.feed_data(frame)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        parsed = done.value
        assert isinstance(parsed, Frame)
        assert reader.at_eof(), "bytes left after the frame"
        return parsed
    raise AssertionError("the frame is incomplete")


def test_header_table_spot_checks() -> None:
    # The helper itself, against bytes written out by hand from RFC 6455 section 5.2.
    assert rfc6455_header(OP_TEXT, 5) == b"\x81\x05"
    assert rfc6455_header(OP_BINARY, 126) == b"\x82\x7e\x00\x7e"
    assert rfc6455_header(OP_TEXT, 65536) == b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_ws_frame(opcode: int, size: int) -> None:
    payload = b"a" * size if opcode == OP_TEXT else bytes(i % 251 for i in range(size))
    frame = ws_frame(opcode, payload)
    header = rfc6455_header(opcode, size)
    assert frame == header + payload
    parsed = parse(frame)
    assert parsed.fin
    assert parsed.opcode is (Opcode.TEXT if opcode == OP_TEXT else Opcode.BINARY)
    assert parsed.data == payload


@pytest.mark.parametrize("size", SIZES[1:])
@pytest.mark.parametrize("protocol", [4, 3])
def test_text_message_frame(protocol: int, size: int) -> None:
    # The payload is "4" + the text: a text of size - 1 characters fills ``size`` bytes.
    text = "x" * (size - 1)
    message = OutgoingMessage(text)
    frame = message.ws_frame(protocol)
    payload = ("4" + text).encode()
    assert len(payload) == size
    assert frame == rfc6455_header(OP_TEXT, size) + payload
    parsed = parse(frame)
    assert parsed.opcode is Opcode.TEXT
    assert bytes(parsed.data).decode() == "4" + text


def test_text_frame_is_utf8() -> None:
    frame = OutgoingMessage("\u20ac").ws_frame()
    assert frame == b"\x81\x04" + b"4\xe2\x82\xac"


@pytest.mark.parametrize("size", SIZES)
def test_v4_binary_message_frame_is_the_raw_bytes(size: int) -> None:
    data = bytes(i % 256 for i in range(size))
    frame = OutgoingMessage(data).ws_frame(4)
    assert frame == rfc6455_header(OP_BINARY, size) + data
    parsed = parse(frame)
    assert parsed.opcode is Opcode.BINARY
    assert parsed.data == data


@pytest.mark.parametrize("size", SIZES)
def test_v3_binary_message_frame_starts_with_the_type_byte(size: int) -> None:
    data = bytes(i % 256 for i in range(size))
    frame = OutgoingMessage(data).ws_frame(3)
    assert frame == rfc6455_header(OP_BINARY, size + 1) + b"\x04" + data
    parsed = parse(frame)
    assert parsed.opcode is Opcode.BINARY
    assert parsed.data == b"\x04" + data


def test_v3_text_frame_is_the_v4_frame() -> None:
    message = OutgoingMessage("hi")
    assert message.ws_frame(3) is message.ws_frame(4)
    assert message.ws_frame(3) == b"\x81\x034hi"


@pytest.mark.parametrize(
    ("data", "v4"),
    [
        ("hello", "4hello"),
        ("", "4"),
        ("\u20ac", "4\u20ac"),
        (b"\x00\x01\x02", "bAAEC"),
        (b"", "b"),
        (b"\xff\xfe", "b//4="),
    ],
)
def test_polling_forms(data: str | bytes, v4: str) -> None:
    message = OutgoingMessage(data)
    assert message.polling_text() == v4


@pytest.mark.parametrize("data", ["text", b"bytes"])
def test_every_form_is_built_once(data: str | bytes) -> None:
    message = OutgoingMessage(data)
    for form in (
        lambda: message.ws_frame(4),
        lambda: message.ws_frame(3),
        message.polling_text,
    ):
        first = form()
        assert form() is first


def test_forms_do_not_mix_between_protocols() -> None:
    message = OutgoingMessage(b"\x01")
    assert message.ws_frame(4) == b"\x82\x01\x01"
    assert message.ws_frame(3) == b"\x82\x02\x04\x01"
    assert message.polling_text() == "bAQ=="


def test_attributes_and_repr() -> None:
    text = OutgoingMessage("hello")
    assert (text.data, text.volatile) == ("hello", False)
    assert repr(text) == "<OutgoingMessage text 5>"
    binary = OutgoingMessage(b"\x00" * 3, volatile=True)
    assert binary.volatile
    assert repr(binary) == "<OutgoingMessage binary 3 volatile>"
