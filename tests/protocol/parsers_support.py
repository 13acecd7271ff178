"""Constants and helpers shared by the test_parsers_*.py modules."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.protocol.parsers import JsonParser
from flask_realtime.protocol.socketio import Packet, PacketType

T = PacketType
BUF = b"\x01\x02\x03\x04"
PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


def stdlib_parser(**options: Any) -> JsonParser:
    """A parser made where orjson cannot be imported: the stdlib fallback."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "orjson", None)
        return JsonParser(**options)


PARSERS: dict[str, Callable[..., JsonParser]] = {"orjson": JsonParser, "stdlib": stdlib_parser}


def feed_all(parser: JsonParser, pieces: list[str | bytes]) -> Packet:
    """Feed every piece; the last one must complete the packet, the others must not."""
    decoder = parser.decoder()
    for piece in pieces[:-1]:
        assert decoder.feed(piece) is None
    packet = decoder.feed(pieces[-1])
    assert packet is not None
    return packet
