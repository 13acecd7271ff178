"""What the observers see of the adapter: rooms joined and left, requests across a
cluster timed (``server/observers.py``), by wrapping the adapter's methods once, when a
server is first observed (per connection or per request, never per event)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flask_realtime.server.socket import Socket
    from flask_realtime.server.socketio_server import SocketIOServer
    from flask_realtime.typing import Room

__all__ = ["observe_adapter"]

_clock = time.perf_counter


class Observers(Protocol):
    """What is told here (``server/observers.py``'s ``Observers``)."""

    def room_joined(self, socket: Socket, room: Room) -> None: ...

    def room_left(self, socket: Socket, room: Room) -> None: ...

    def adapter_request(self, kind: str, seconds: float, error: BaseException | None) -> None: ...


def observe_adapter(server: SocketIOServer, observers: Observers) -> None:
    """Tell ``observers`` of the rooms of ``server``'s adapter and time its requests."""
    _observe_rooms(server, observers)
    _observe_requests(server.adapter, observers)


def _observe_rooms(server: SocketIOServer, observers: Observers) -> None:
    adapter = server.adapter
    add, remove, remove_all = adapter.add, adapter.remove, adapter.remove_all

    def observed_add(socket: Socket, room: Room) -> None:
        known = adapter.rooms(socket.nsp.name, socket.sid)
        add(socket, room)
        if room not in known:
            observers.room_joined(socket, room)

    def observed_remove(socket: Socket, room: Room) -> None:
        known = adapter.rooms(socket.nsp.name, socket.sid)
        remove(socket, room)
        if room in known:
            observers.room_left(socket, room)

    def observed_remove_all(socket: Socket) -> None:
        known = adapter.rooms(socket.nsp.name, socket.sid)
        remove_all(socket)
        for room in known:
            observers.room_left(socket, room)

    adapter.add = observed_add  # type: ignore[method-assign]
    adapter.remove = observed_remove  # type: ignore[method-assign]
    adapter.remove_all = observed_remove_all  # type: ignore[method-assign]


_REQUESTS = ("fetch_sockets", "server_side_emit", "broadcast_acks")


def _observe_requests(adapter: object, observers: Observers) -> None:
    for kind in _REQUESTS:
        request = getattr(adapter, kind, None)
        if request is None:
            continue  # not a cluster adapter

        def timed(
            *args: Any, _kind: str = kind, _request: Callable[..., Awaitable[Any]] = request,
            **kwargs: Any,
        ) -> Awaitable[Any]:  # fmt: skip
            return _timed_request(_kind, _request(*args, **kwargs), observers)

        setattr(adapter, kind, timed)


async def _timed_request(kind: str, request: Awaitable[Any], observers: Observers) -> Any:
    start = _clock()
    try:
        result = await request
    except BaseException as exc:
        observers.adapter_request(kind, _clock() - start, exc)
        raise
    observers.adapter_request(kind, _clock() - start, None)
    return result
