"""What travels between a server that relays a WebSocket and the server that owns its session.

A WebSocket upgrade for a session owned by a server on another machine is accepted by the
server it reached (the *relay*, ``runtime/multiprocess/ws_relay.py``), which carries its
messages to the owner over the message queue; the owner serves them through a
:class:`~.remote_websocket.RemoteWebSocket`, its transport for that client. Each message
on the bus names the relay's connection (``conn_id``, unique in the relaying process) and
goes from one server process to one other (``peer``):

=========  ==========  ==================================================================
kind       direction   value
=========  ==========  ==================================================================
OPEN       relay->own  the upgrade request (``forwarded.encode_request``)
ANSWER     own->relay  ``None``: accepted (write the 101); else the refusal (a response)
IN         relay->own  the client's WebSocket messages, in order (``str`` text, ``bytes``)
OUT        own->relay  the messages to write to the client, in order (same form)
CLOSE_IN   relay->own  the client's WebSocket is gone; ``True`` when by an error
CLOSE_OUT  own->relay  the owner closed it: close the WebSocket; ``True`` when failed
FLOW       own->relay  ``True``: stop reading from the client (its session has too much
                       queued), ``False``: read again
=========  ==========  ==================================================================

The kinds are numbered from 16, apart from the request forwarding's (REQUEST, RESPONSE,
CANCEL) on the same bus, which carries them without reading them.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol, runtime_checkable

from ...engine import EngineRequest, EngineResponse

__all__ = [
    "EVERY_PEER",
    "RelayBus",
    "RelayKind",
    "RelayReceiver",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "payloads_of",
]


EVERY_PEER = 0xFFFF
"""The ``peer`` of a departure that means every other process (the link itself is lost)."""


class RelayKind(enum.IntEnum):
    """See the module docstring."""

    OPEN = 16
    ANSWER = 17
    IN = 18
    OUT = 19
    CLOSE_IN = 20
    CLOSE_OUT = 21
    FLOW = 22


class RelayReceiver(Protocol):
    """Who takes the relayed WebSockets' messages off the bus (the session routing)."""

    def relayed(self, kind: int, peer: int, conn_id: int, value: Any) -> None: ...

    def relay_peer_gone(self, peer: int) -> None:
        """Process ``peer`` is gone (every other one for :data:`EVERY_PEER`)."""


@runtime_checkable
class RelayBus(Protocol):
    """The link between server processes as the WebSocket relay uses it
    (``adapters/bus_forwarding.py``'s ``RedisForwarder``)."""

    index: int

    @property
    def backlog(self) -> int:
        """Bytes waiting to be sent (the relay stops reading its clients past a limit)."""

    def relay(self, kind: int, peer: int, conn_id: int, value: Any) -> bool:
        """Send ``value`` to process ``peer``; False when it cannot be sent (full, closed)."""

    def on_relay(self, receiver: RelayReceiver) -> None:
        """Deliver the relay kinds that arrive to ``receiver``."""


def payloads_of(value: Any) -> list[str | bytes] | None:
    """The messages of an IN or OUT value, or None when it is not a list of them."""
    if not isinstance(value, list):
        return None
    for item in value:
        if not isinstance(item, str | bytes):
            return None
    return value


# -- requests and responses as bus values (the request forwarding's too) ----------------


def encode_request(request: EngineRequest) -> Any:
    """A request as a bus value (a forwarded poll, a relayed upgrade)."""
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "headers": dict(request.headers),
        "body": request.body,
        "remote": list(request.remote_addr) if request.remote_addr else None,
        "scheme": request.scheme,
    }


def decode_request(value: Any) -> EngineRequest | None:
    """The request of a bus value, or None when it is not one."""
    if not isinstance(value, dict):
        return None
    try:
        remote = value.get("remote")
        return EngineRequest(
            method=str(value["method"]),
            path=str(value["path"]),
            query_string=str(value["query"]),
            headers={str(k): str(v) for k, v in dict(value["headers"]).items()},
            body=bytes(value.get("body") or b""),
            remote_addr=(str(remote[0]), int(remote[1])) if remote else None,
            scheme=str(value.get("scheme", "http")),
        )
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def encode_response(response: EngineResponse) -> Any:
    """A response as a bus value (a forwarded poll's answer, a refused upgrade)."""
    return {"status": response.status, "headers": response.headers, "body": response.body}


def decode_response(value: Any) -> EngineResponse | None:
    """The response of a bus value, or None when it is not one."""
    if not isinstance(value, dict):
        return None
    try:
        headers = [(str(k), str(v)) for k, v in value["headers"]]
        return EngineResponse(int(value["status"]), headers, bytes(value.get("body") or b""))
    except (KeyError, TypeError, ValueError):
        return None
