"""Binary attachments: placeholders out and buffers back in (protocol/binary.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from flask_realtime.exceptions import ProtocolError
from flask_realtime.protocol.binary import deconstruct, has_binary, reconstruct

from .strategies import binary_values, json_values


def placeholder(num: int) -> dict[str, Any]:
    return {"_placeholder": True, "num": num}


def test_deconstruct_numbers_buffers_depth_first() -> None:
    data = ["baz", b"\x01\x02", {"x": [bytearray(b"\x03"), {"y": memoryview(b"\x04")}]}, (b"",)]
    shell, buffers = deconstruct(data)
    assert shell == [
        "baz",
        placeholder(0),
        {"x": [placeholder(1), {"y": placeholder(2)}]},
        [placeholder(3)],
    ]
    assert buffers == [b"\x01\x02", b"\x03", b"\x04", b""]
    assert all(type(buffer) is bytes for buffer in buffers)


def test_deconstruct_leaves_the_callers_data_alone() -> None:
    data = ["a", {"b": b"\x01"}]
    deconstruct(data)
    assert data == ["a", {"b": b"\x01"}]


def test_reconstruct_puts_buffers_back_in_place() -> None:
    shell = ["img", placeholder(1), {"deep": [placeholder(0), {"k": placeholder(1)}]}, 3]
    assert reconstruct(shell, [b"a", b"b"]) == ["img", b"b", {"deep": [b"a", {"k": b"b"}]}, 3]


def test_reconstruct_of_a_bare_placeholder_and_of_scalars() -> None:
    assert reconstruct(placeholder(0), [b"x"]) == b"x"
    assert reconstruct("text", []) == "text"


def test_placeholder_needs_true_not_truthy() -> None:
    # As Node's reconstructPacket: only `_placeholder === true` marks a placeholder.
    data = [{"_placeholder": 1, "num": 0}]
    assert reconstruct(data, [b"x"]) == [{"_placeholder": 1, "num": 0}]


@pytest.mark.parametrize(
    "bad",
    [
        {"_placeholder": True, "num": 2},
        {"_placeholder": True, "num": -1},
        {"_placeholder": True, "num": "0"},
        {"_placeholder": True, "num": 0.0},
        {"_placeholder": True, "num": True},
        {"_placeholder": True},
    ],
)
def test_placeholder_that_names_no_buffer_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError, match="does not name one of the 2 attachments"):
        reconstruct(["a", {"x": bad}], [b"0", b"1"])


def test_reconstruct_of_data_nested_too_deeply_is_refused() -> None:
    data: list[Any] = []
    for _ in range(5000):
        data = [data]
    with pytest.raises(ProtocolError, match="nested too deeply"):
        reconstruct(data, [])


def test_has_binary() -> None:
    assert not has_binary(["a", 1, None, {"b": [2.5, True]}])
    assert has_binary(["a", {"b": [1, (2, b"")]}])
    assert has_binary(bytearray())
    assert not has_binary({b"key": 1})  # keys are not data


@settings(max_examples=250)
@given(binary_values)
def test_reconstruct_undoes_deconstruct(data: Any) -> None:
    shell, buffers = deconstruct(data)
    assert not has_binary(shell)
    assert len(buffers) == 0 or has_binary(data)
    assert reconstruct(shell, buffers) == data


@settings(max_examples=200)
@given(json_values)
def test_data_without_binary_is_unchanged(data: Any) -> None:
    assert deconstruct(data) == (data, [])
    assert not has_binary(data)
