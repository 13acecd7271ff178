"""The protocol package: its public names, and that it stays pure (no I/O layers imported)."""

from __future__ import annotations

import ast
from pathlib import Path

from flask_realtime import protocol
from flask_realtime.protocol import engineio, engineio_v3, parsers, socketio

PACKAGE = Path(protocol.__file__).parent


def test_public_api_is_pinned() -> None:
    assert sorted(protocol.__all__) == [
        "Decoder",
        "JsonParser",
        "MsgpackParser",
        "Parser",
        "engineio",
        "engineio_v3",
        "socketio",
    ]
    for name in protocol.__all__:
        assert getattr(protocol, name) is not None
    assert protocol.JsonParser is parsers.JsonParser
    assert type(engineio_v3.decode_packet("2")) is engineio.Packet  # v3 shares the v4 packet


def test_every_module_lists_what_it_exports() -> None:
    for module in (engineio, engineio_v3, parsers, socketio):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


ALLOWED_IMPORTS = {
    "__future__",
    "binascii",
    "collections",
    "dataclasses",
    "enum",
    "json",
    "sys",
    "typing",
    "flask_realtime",
    "orjson",  # optional, imported inside a function
    "msgpack",  # optional, imported inside a function
}


def test_protocol_imports_nothing_but_the_stdlib_codecs_and_our_leaf_modules() -> None:
    # Layering (STYLE.md, practice 4): pure codecs, no asyncio, no flask, no clock.
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED_IMPORTS, f"{path.name} imports {name}"
                if top == "flask_realtime":
                    assert name.startswith(
                        ("flask_realtime.protocol", "flask_realtime.exceptions")
                    ), f"{path.name} imports {name}"


def test_both_parsers_satisfy_the_parser_interface() -> None:
    # Checked by mypy (the annotations) and at run time (one packet through each).
    chosen: list[protocol.Parser] = [protocol.JsonParser(), protocol.MsgpackParser()]
    packet = socketio.Packet(socketio.PacketType.EVENT, "/chat", ["hello", 1], 4)
    for parser in chosen:
        decoder: protocol.Decoder = parser.decoder()
        (message,) = parser.encode(packet)
        assert decoder.feed(message) == packet
