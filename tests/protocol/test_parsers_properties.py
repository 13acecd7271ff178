"""The JSON Socket.IO parser (protocol/parsers.py): property-based tests."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from flask_realtime.exceptions import ProtocolError
from flask_realtime.protocol.binary import deconstruct
from flask_realtime.protocol.parsers import DEFAULT_MAX_ATTACHMENTS, JsonParser
from flask_realtime.protocol.socketio import Packet

from .parsers_support import PH0, feed_all, stdlib_parser
from .strategies import as_encoded, sio_packets

# Properties ----------------------------------------------------------------------------

ORJSON_V5, STDLIB_V5 = JsonParser(), stdlib_parser()
ORJSON_V4, STDLIB_V4 = JsonParser(version=4), stdlib_parser(version=4)


def _within_the_attachment_limit(packet: Packet) -> bool:
    """Whether the JSON parsers accept ``packet`` back: binary values can hold up to 36
    buffers, and a decoder refuses more than ``DEFAULT_MAX_ATTACHMENTS`` (its own test)."""
    return len(deconstruct(packet.data)[1]) <= DEFAULT_MAX_ATTACHMENTS


@settings(max_examples=300)
@given(sio_packets(version=5).filter(_within_the_attachment_limit))
def test_v5_round_trip(packet: Packet) -> None:
    for parser in (ORJSON_V5, STDLIB_V5):
        assert feed_all(parser, parser.encode(packet)) == as_encoded(packet)


@settings(max_examples=200)
@given(sio_packets(version=4).filter(_within_the_attachment_limit))
def test_v4_round_trip(packet: Packet) -> None:
    for parser in (ORJSON_V4, STDLIB_V4):
        assert feed_all(parser, parser.encode(packet)) == as_encoded(packet)


def _feed_raising_only_protocol_error(parser: JsonParser, pieces: list[str | bytes]) -> None:
    decoder = parser.decoder()
    for piece in pieces:
        try:
            decoder.feed(piece)
        except ProtocolError:
            pass


@settings(max_examples=300)
@given(st.lists(st.text() | st.binary(max_size=8), max_size=4))
def test_arbitrary_messages_raise_only_protocol_error(pieces: list[str | bytes]) -> None:
    for parser in (ORJSON_V5, STDLIB_V4):
        _feed_raising_only_protocol_error(parser, pieces)


near_valid = st.builds(
    "".join,
    st.lists(
        st.sampled_from(
            [*"0123456-/,?[]{}x:", "/a", "12", '"a"', '"connect"', "null", "\u0661", PH0]
        ),
        max_size=10,
    ),
)


@settings(max_examples=300)
@given(st.lists(near_valid | st.binary(max_size=4), max_size=4))
def test_near_valid_messages_raise_only_protocol_error(pieces: list[str | bytes]) -> None:
    for parser in (ORJSON_V5, STDLIB_V4):
        _feed_raising_only_protocol_error(parser, pieces)
