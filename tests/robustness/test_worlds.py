"""The two worlds the adversarial tests run against are what they claim to be.

The "stdlib-json" world stands for an installation without the orjson extra: its parsers
must really decode with the standard library, or every test parametrised over both worlds
would exercise orjson twice.
"""

from __future__ import annotations

import json

import orjson

from .conftest import World


def _decoders_in(loads: object) -> list[object]:
    closure = getattr(loads, "__closure__", None) or ()
    return [cell.cell_contents for cell in closure]


def test_the_orjson_world_decodes_with_orjson(world: World) -> None:
    parsers = world.state.parsers
    assert parsers.parser._loads is orjson.loads
    assert parsers.legacy._loads is orjson.loads


def test_the_stdlib_json_world_decodes_with_the_standard_library(plain_world: World) -> None:
    parsers = plain_world.state.parsers
    for parser in (parsers.parser, parsers.legacy):
        assert parser._loads is not orjson.loads
        assert any(isinstance(item, json.JSONDecoder) for item in _decoders_in(parser._loads))
        # And it answers as the standard library's decoder does, through the parser.
        decoder = parser.decoder()
        packet = decoder.feed('2["echo",{"a":[1,2.5,"é"]}]')
        assert packet is not None
        assert packet.data == ["echo", {"a": [1, 2.5, "é"]}]
