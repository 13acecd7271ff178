"""Binary attachments of Socket.IO packets: placeholders out, buffers back in.

Socket.IO v5 "Packet encoding" (and v4 the same way): a BINARY_EVENT or BINARY_ACK sends
its JSON with every binary value replaced by ``{"_placeholder":true,"num":N}``, followed
by the N buffers as separate binary messages, in order. These walks do that replacement
and its inverse, anywhere inside lists and dicts.
"""

from __future__ import annotations

from typing import Any

from flask_realtime.exceptions import ProtocolError

__all__ = ["BINARY_TYPES", "deconstruct", "has_binary", "reconstruct"]

BINARY_TYPES = (bytes, bytearray, memoryview)
"""The Python values that travel as binary attachments."""


def has_binary(data: Any) -> bool:
    """Tell whether ``data`` holds a binary value anywhere inside lists, tuples and dicts."""
    if isinstance(data, BINARY_TYPES):
        return True
    if isinstance(data, list | tuple):
        return any(has_binary(item) for item in data)
    if isinstance(data, dict):
        return any(has_binary(item) for item in data.values())
    return False


def deconstruct(data: Any) -> tuple[Any, list[bytes]]:
    """Replace every binary value with a numbered placeholder.

    Returns a copy of ``data`` (the caller's objects are not changed; tuples become lists)
    and the buffers, numbered in depth-first order as Node's ``deconstructPacket`` does.
    """
    buffers: list[bytes] = []
    return _deconstruct(data, buffers), buffers


def _deconstruct(data: Any, buffers: list[bytes]) -> Any:
    if isinstance(data, BINARY_TYPES):
        buffers.append(bytes(data))
        return {"_placeholder": True, "num": len(buffers) - 1}
    if isinstance(data, list | tuple):
        return [_deconstruct(item, buffers) for item in data]
    if isinstance(data, dict):
        return {key: _deconstruct(value, buffers) for key, value in data.items()}
    return data


def reconstruct(data: Any, buffers: list[bytes]) -> Any:
    """Put the buffers back in place of their placeholders, in place, and return ``data``.

    ``data`` must be freshly decoded (this walk changes its lists and dicts). A dict whose
    ``_placeholder`` is ``true`` is a placeholder, as in Node's ``reconstructPacket``.

    Raises:
        ProtocolError: a placeholder's ``num`` is not the index of a received buffer, or
            the data is nested too deeply to walk.
    """
    try:
        return _reconstruct(data, buffers)
    except RecursionError:
        raise ProtocolError("binary packet data is nested too deeply") from None


def _reconstruct(data: Any, buffers: list[bytes]) -> Any:
    if type(data) is list:
        for index, item in enumerate(data):
            if type(item) is list or type(item) is dict:
                data[index] = _reconstruct(item, buffers)
        return data
    if type(data) is dict:
        if data.get("_placeholder") is True:
            num = data.get("num")
            if type(num) is not int or not 0 <= num < len(buffers):
                raise ProtocolError(
                    f"attachment placeholder {num!r:.20} does not name one of the "
                    f"{len(buffers)} attachments received"
                )
            return buffers[num]
        for key, value in data.items():
            if type(value) is list or type(value) is dict:
                data[key] = _reconstruct(value, buffers)
        return data
    return data
