"""One outgoing Engine.IO message, encoded once for every transport and protocol.

A broadcast builds one ``OutgoingMessage`` and hands the same object to every recipient;
each wire form (a WebSocket frame, a polling packet) is built the first time a recipient
needs it and reused by all the others: encode once, frame once, write many.
"""

from __future__ import annotations

import base64

__all__ = ["OutgoingMessage", "messages_of", "ws_frame"]


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked, unfragmented server-to-client WebSocket frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big") + payload


OP_TEXT = 0x1
OP_BINARY = 0x2

# The head of a small text frame carrying an Engine.IO v4 message, "4" included, by the
# frame's payload length: what ws_frame(OP_TEXT, b"4" + data) starts with, without
# building it for each message.
_SMALL_TEXT_HEADS = tuple(bytes((0x80 | OP_TEXT, n)) + b"4" for n in range(1, 126))


class OutgoingMessage:
    """An Engine.IO MESSAGE packet (type 4) whose wire forms are cached.

    Args:
        data: the message: ``str`` for a text message, ``bytes`` for a binary one.
        volatile: the message may be dropped for a client that reads too slowly.
        follows: a binary attachment of the volatile packet before it: sent to a client
            if and only if that packet was (a packet is dropped whole, as Node does,
            never its head without its attachments or the reverse, which would make the
            client take the next packets for the missing attachments).

    ``counted``: a broadcast's message, counted in the traffic once for all its recipients
    (``engine/traffic.py``): a recipient's send does not count it again.
    """

    __slots__ = ("_frame3", "_frame4", "_text4", "counted", "data", "follows", "volatile")

    def __init__(self, data: str | bytes, *, volatile: bool = False, follows: bool = False) -> None:
        self.data = data
        self.volatile = volatile
        self.follows = follows
        self.counted = False
        self._frame4: bytes | None = None
        self._frame3: bytes | None = None
        self._text4: str | None = None

    def ws_frame(self, protocol: int = 4) -> bytes:
        """The WebSocket frame carrying this message for an Engine.IO ``protocol`` client."""
        if protocol == 4:
            frame = self._frame4
            if frame is None:
                data = self.data
                if isinstance(data, str):
                    payload = data.encode()
                    if len(payload) < 125:  # the common case: one lookup, one copy
                        frame = _SMALL_TEXT_HEADS[len(payload)] + payload
                    else:
                        frame = ws_frame(OP_TEXT, b"4" + payload)
                else:
                    frame = ws_frame(OP_BINARY, data)
                self._frame4 = frame
            return frame
        frame = self._frame3
        if frame is None:
            data = self.data
            if isinstance(data, str):
                frame = self.ws_frame(4)
            else:
                # Engine.IO v3: a binary frame starts with the packet type as a byte.
                frame = ws_frame(OP_BINARY, b"\x04" + data)
            self._frame3 = frame
        return frame

    def polling_text(self) -> str:
        """The packet as it goes into an Engine.IO v4 text polling payload (binary as
        base64). A v3 polling payload is framed by ``protocol/engineio_v3`` instead."""
        text = self._text4
        if text is None:
            data = self.data
            if isinstance(data, str):
                text = "4" + data
            else:
                text = "b" + base64.b64encode(data).decode("ascii")
            self._text4 = text
        return text

    def __repr__(self) -> str:
        kind = "text" if isinstance(self.data, str) else "binary"
        return f"<OutgoingMessage {kind} {len(self.data)}{' volatile' if self.volatile else ''}>"


def messages_of(pieces: list[str | bytes], volatile: bool) -> list[OutgoingMessage]:
    """The messages of one encoded Socket.IO packet (its text head, then its binary
    attachments): a volatile packet is dropped whole, so only its head is volatile and
    its attachments follow the head's fate."""
    if not volatile or len(pieces) == 1:
        return [OutgoingMessage(piece, volatile=volatile) for piece in pieces]
    head, *attachments = pieces
    return [
        OutgoingMessage(head, volatile=True),
        *(OutgoingMessage(piece, follows=True) for piece in attachments),
    ]
