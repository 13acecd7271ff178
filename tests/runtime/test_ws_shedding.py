"""What a congested WebSocket client still gets (``WebSocketTransport._shed``): volatile
packets are dropped whole, their binary attachments with them, and nothing else is."""

from __future__ import annotations

from flask_realtime.engine.message import OutgoingMessage, messages_of
from flask_realtime.runtime.engineio.wstransport import WebSocketTransport, WsState


def shed(items: list[OutgoingMessage]) -> list[str | bytes]:
    transport = WebSocketTransport(4, None, WsState.OPEN)
    kept = transport._shed(items, over_limit=False)
    return [item.data for item in kept if isinstance(item, OutgoingMessage)]


def test_a_dropped_volatile_packet_takes_its_attachments_and_nothing_after_them() -> None:
    items = [
        OutgoingMessage("2first"),
        *messages_of(["52-volatile", b"\x01", b"\x02"], volatile=True),
        OutgoingMessage("2kept"),
        *messages_of(["51-state", b"\x03"], volatile=False),
        OutgoingMessage("2tick", volatile=True),
    ]
    assert shed(items) == ["2first", "2kept", "51-state", b"\x03"]


def test_attachments_whose_packet_went_out_before_the_congestion_are_kept() -> None:
    # The head left in an earlier write; only its attachments wait here.
    _head, *attachments = messages_of(["51-sent", b"\x04"], volatile=True)
    assert shed([*attachments, OutgoingMessage("2next")]) == [b"\x04", "2next"]
