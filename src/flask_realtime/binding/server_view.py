"""``socketio.server``: python-socketio's documented ``Server`` API over our server.

Flask-SocketIO apps reach past the extension for the python-socketio server it wraps:
``socketio.server.enter_room(sid, room)``, ``get_session(sid)`` / ``save_session`` /
``with socketio.server.session(sid) as s``, ``disconnect(sid)``, ``transport(sid)``,
``get_environ(sid)``, ``rooms(sid)``, ``manager.rooms``, ``manager.get_participants(ns,
room)``, and ``eio`` options such as ``allow_upgrades`` or ``cookie``. This view offers
those calls with python-socketio's documented behaviour, over the app's own server; our
internals stay ours. Like every operation here it may be called from any thread: reads
are answered by the loop, changes are handed to it in order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from ..engine import EngineOptions
from ..exceptions import ConfigurationError
from .environ import connection_environ
from .tasks import sleep, start_background_task

if TYPE_CHECKING:
    from ..engine import EngineServer
    from ..server import Socket, SocketIOServer
    from ..typing import Room, Sid
    from .bridge import LoopBridge
    from .operations import Operations

__all__ = ["EngineView", "ManagerView", "ServerView"]

T = TypeVar("T")

_USER_SESSION = "flask_realtime.user_session"
"""Where a socket keeps the python-socketio user session (in the socket's ``data``)."""


class _Reader:
    """Runs a read of server state on its loop and hands the answer back."""

    __slots__ = ("_bridge", "server")

    def __init__(self, server: SocketIOServer, bridge: Callable[[], LoopBridge]) -> None:
        self.server = server
        self._bridge = bridge

    def read(self, fn: Callable[..., T], *args: Any) -> T:
        return self._bridge().call_and_wait(fn, *args, timeout=30)


class ManagerView:
    """python-socketio's ``server.manager``: who is in which room (this server's clients)."""

    __slots__ = ("_reader",)

    def __init__(self, reader: _Reader) -> None:
        self._reader = reader

    @property
    def rooms(self) -> dict[str, dict[Room, dict[Sid, str]]]:
        """``rooms[namespace][room][sid] = eio_sid``, a snapshot taken now."""
        return self._reader.read(self._rooms)

    def _rooms(self) -> dict[str, dict[Room, dict[Sid, str]]]:
        server = self._reader.server
        found: dict[str, dict[Room, dict[Sid, str]]] = {}
        for namespace in server.namespaces.live():
            rooms = found.setdefault(namespace.name, {})
            for sid, socket in namespace.sockets.items():
                for room in server.adapter.rooms(namespace.name, sid):
                    rooms.setdefault(room, {})[sid] = socket.eio.sid
        return found

    def get_namespaces(self) -> list[str]:
        """The namespaces that have clients now."""
        return list(self.rooms)

    def get_participants(self, namespace: str, room: Room) -> Iterator[tuple[Sid, str]]:
        """``(sid, eio_sid)`` of every client in ``room`` of ``namespace``."""
        members = self.rooms.get(namespace or "/", {}).get(room, {})
        yield from list(members.items())

    def get_rooms(self, sid: Sid, namespace: str) -> list[Room]:
        """The rooms of client ``sid`` (its own sid room among them)."""
        return self._reader.read(self._reader.server.rooms, sid, namespace or "/")

    def eio_sid_from_sid(self, sid: Sid, namespace: str) -> str | None:
        """The Engine.IO session of client ``sid``, None when it is not connected."""
        return self._reader.read(_eio_sid, self._reader.server, sid, namespace or "/")

    def sid_from_eio_sid(self, eio_sid: str, namespace: str) -> Sid | None:
        """The socket id of Engine.IO session ``eio_sid`` in ``namespace``, if any."""

        def find() -> Sid | None:
            live = self._reader.server.namespaces.get(namespace or "/")
            if live is not None:
                for sid, socket in live.sockets.items():
                    if socket.eio.sid == eio_sid:
                        return sid
            return None

        return self._reader.read(find)

    def is_connected(self, sid: Sid, namespace: str) -> bool:
        """Whether client ``sid`` is connected to ``namespace``."""
        return self.eio_sid_from_sid(sid, namespace) is not None


class EngineView:
    """python-socketio's ``server.eio``: the Engine.IO settings, readable and settable.

    A setting changed here applies from the next request or session on (as with
    python-engineio, whose server reads its attributes as it goes).
    """

    _engine: EngineServer
    _reader: _Reader

    def __init__(self, engine: EngineServer, reader: _Reader) -> None:
        object.__setattr__(self, "_engine", engine)
        object.__setattr__(self, "_reader", reader)

    def __getattr__(self, name: str) -> Any:
        options = self._engine.options
        if name in _ENGINE_FIELDS:
            return getattr(options, name)
        raise AttributeError(f"the Engine.IO server has no setting {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _ENGINE_FIELDS:
            raise ConfigurationError(f"the Engine.IO server has no setting {name!r}")
        engine = self._engine

        def change() -> None:
            engine.options = dataclasses.replace(engine.options, **{name: value})

        self._reader.read(change)

    def transport(self, eio_sid: str) -> str:
        """The transport of an Engine.IO session: "polling" or "websocket"."""

        def find() -> str:
            session = self._engine.sessions.get(eio_sid)
            if session is None:
                raise KeyError(eio_sid)
            return session.transport_name

        return self._reader.read(find)


class ServerView:
    """python-socketio's ``Server`` API for one app (see the module docstring).

    Args:
        ops: the app's operations (emit, rooms, disconnect).
        server: the app's Socket.IO server.
        engine: the app's Engine.IO server.
    """

    def __init__(self, ops: Operations, server: SocketIOServer, engine: EngineServer) -> None:
        self._ops = ops
        self._reader = _Reader(server, ops.bridge)
        self.manager = ManagerView(self._reader)
        self.eio = EngineView(engine, self._reader)

    # -- sending -----------------------------------------------------------------------------

    def emit(
        self,
        event: str,
        data: Any = None,
        to: Room | list[Room] | None = None,
        room: Room | list[Room] | None = None,
        skip_sid: Sid | list[Sid] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """Emit ``event`` (a tuple ``data`` is several arguments), to ``to`` or everyone."""
        self._ops.emit(event, _args(data), namespace=namespace or "/", to=to or room,
                       skip_sid=skip_sid, callback=callback, volatile=False,
                       origin=None)  # fmt: skip

    def send(
        self,
        data: Any,
        to: Room | list[Room] | None = None,
        room: Room | list[Room] | None = None,
        skip_sid: Sid | list[Sid] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        ignore_queue: bool = False,
    ) -> None:
        """Send a ``message`` event."""
        self.emit("message", data, to=to, room=room, skip_sid=skip_sid, namespace=namespace,
                  callback=callback)  # fmt: skip

    def call(
        self,
        event: str,
        data: Any = None,
        to: Sid | None = None,
        sid: Sid | None = None,
        namespace: str | None = None,
        timeout: float = 60,
        ignore_queue: bool = False,
    ) -> Any:
        """Emit to one client and wait for its acknowledgement (python-socketio's return)."""
        target = to or sid
        if target is None:
            raise ConfigurationError("call() waits for one client's answer: pass to=sid")
        return self._ops.call(event, _args(data), to=target, namespace=namespace or "/",
                              timeout=timeout)  # fmt: skip

    # -- rooms and clients -------------------------------------------------------------------

    def enter_room(self, sid: Sid, room: Room, namespace: str | None = None) -> None:
        """Put client ``sid`` in ``room``."""
        self._ops.enter_room(sid, room, namespace or "/", None)

    def leave_room(self, sid: Sid, room: Room, namespace: str | None = None) -> None:
        """Take client ``sid`` out of ``room``."""
        self._ops.leave_room(sid, room, namespace or "/", None)

    def close_room(self, room: Room, namespace: str | None = None) -> None:
        """Take every client out of ``room``."""
        self._ops.close_room(room, namespace or "/", None)

    def rooms(self, sid: Sid, namespace: str | None = None) -> list[Room]:
        """The rooms client ``sid`` is in."""
        return self._ops.rooms(sid, namespace or "/")

    def disconnect(
        self, sid: Sid, namespace: str | None = None, ignore_queue: bool = False
    ) -> None:
        """Disconnect client ``sid`` from the namespace."""
        self._ops.disconnect(sid, namespace or "/", None)

    def transport(self, sid: Sid, namespace: str | None = None) -> str:
        """The transport client ``sid`` uses now: "polling" or "websocket"."""
        server = self._reader.server

        def find() -> str:
            return _socket(server, sid, namespace or "/").eio.transport_name

        return self._reader.read(find)

    def get_environ(self, sid: Sid, namespace: str | None = None) -> dict[str, Any] | None:
        """The WSGI environ of client ``sid``'s handshake (None when not connected)."""
        server = self._reader.server

        def find() -> dict[str, Any] | None:
            live = server.namespaces.get(namespace or "/")
            socket = live.sockets.get(sid) if live is not None else None
            return connection_environ(socket) if socket is not None else None

        return self._reader.read(find)

    # -- the user session --------------------------------------------------------------------

    def get_session(self, sid: Sid, namespace: str | None = None) -> dict[str, Any]:
        """The user session of client ``sid``: a dict kept for the connection's life.

        Changes are kept only through :meth:`save_session` or :meth:`session`, as
        python-socketio documents (here the dict returned is the stored one).

        Raises:
            KeyError: ``sid`` is not connected to the namespace.
        """
        server = self._reader.server

        def find() -> dict[str, Any]:
            data = _socket(server, sid, namespace or "/").data
            stored: dict[str, Any] = data.setdefault(_USER_SESSION, {})
            return stored

        return self._reader.read(find)

    def save_session(self, sid: Sid, session: dict[str, Any], namespace: str | None = None) -> None:
        """Store ``session`` as client ``sid``'s user session."""
        server = self._reader.server

        def store() -> None:
            _socket(server, sid, namespace or "/").data[_USER_SESSION] = session

        self._reader.read(store)

    @contextmanager
    def session(self, sid: Sid, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """``with server.session(sid) as session:``: the user session, saved on exit."""
        session = self.get_session(sid, namespace)
        yield session
        self.save_session(sid, session, namespace)

    # -- tasks -------------------------------------------------------------------------------

    def start_background_task(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``target`` in the background (see ``SocketIO.start_background_task``)."""
        return start_background_task(target, args, kwargs, self._ops.bridge_for(target))

    def sleep(self, seconds: float = 0) -> Any:
        """Sleep (awaitable on the loop)."""
        return sleep(seconds)


_ENGINE_FIELDS = frozenset(field.name for field in dataclasses.fields(EngineOptions))


def _args(data: Any) -> tuple[Any, ...]:
    """python-socketio's ``data``: a tuple is several arguments, None is none."""
    if data is None:
        return ()
    if type(data) is tuple:
        return data
    return (data,)


def _socket(server: SocketIOServer, sid: Sid, namespace: str) -> Socket:
    socket = server.get_socket(sid, namespace)
    if socket is None:
        raise KeyError(f"{sid} is not connected to {namespace}")
    return socket


def _eio_sid(server: SocketIOServer, sid: Sid, namespace: str) -> str | None:
    socket = server.get_socket(sid, namespace)
    return socket.eio.sid if socket is not None else None
