"""The operations on one app's server: emit, call, rooms, disconnect, from any thread.

This is where ``socketio.emit`` and the context-aware ``emit`` inside a handler meet: both
call :meth:`Operations.emit` of the app's service, with arguments already in the server's
form (a list of recipients, the namespace resolved). From a thread other than the loop's
an operation is handed to the loop in order (:class:`~flask_realtime.binding.bridge.LoopBridge`),
its arguments copied first (``snapshot``: an emit sends the data as it was when the
handler emitted, and data that cannot be encoded fails in the handler); on the loop (an
``async def`` handler or task) it runs at once.

An operation that fails on the loop after a handler handed it over is logged with the
handler that made it, and published as an :class:`~flask_realtime.binding.outcomes.Outcome`
(the test client re-raises it in the test).
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Iterable
from threading import get_ident
from typing import TYPE_CHECKING, Any, Protocol
from weakref import ReferenceType

from ..engine.message import OutgoingMessage, messages_of
from ..exceptions import CallTimeoutError
from ..protocol.socketio import RESERVED_EVENTS
from ..server.socket_state import SocketState
from .handlers import is_async_callable
from .outcomes import Outcome, Outcomes

if TYPE_CHECKING:
    from ..server import SocketIOServer
    from ..server.socket import Socket
    from ..typing import Room, Sid
    from .bridge import LoopBridge

__all__ = ["AckCallback", "Operations", "Origin", "Sender"]

logger = logging.getLogger(__name__)

_CLOSED = SocketState.CLOSED  # a plain name: an enum's attribute costs ~1k instructions
_CALL_GRACE = 5.0  # seconds past a call()'s own timeout before the caller gives up on the loop

Snapshot = Callable[[tuple[Any, ...]], tuple[Any, ...]]


class Origin(Protocol):
    """The handler an operation comes from (a :class:`~.scope.HandlerScope`)."""

    @property
    def sid(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def eio_sid(self) -> str: ...
    @property
    def event(self) -> str: ...


class Sender(Origin, Protocol):
    """A handler that emits to its own client (a :class:`~.scope.HandlerScope`)."""

    @property
    def socket(self) -> ReferenceType[Socket] | None:
        """Its socket, weakly (None when it has none: an emit's callback)."""
        ...


class AckCallback:
    """An ``emit(..., callback=fn)`` callback, and the handler it was emitted from.

    Flask-SocketIO runs the callback with the request context of the client whose handler
    emitted (when there was one): so does the runner.
    """

    __slots__ = ("fn", "is_async", "origin")

    def __init__(self, fn: Callable[..., Any], origin: Origin | None) -> None:
        self.fn = fn
        self.origin = origin
        self.is_async = is_async_callable(fn)


class Operations:
    """The server operations of one app (see the module docstring).

    Args:
        server: the app's Socket.IO server (loop thread only).
        ensure_loop: the bridge to the server's loop, starting the embedded loop if none
            runs yet.
        snapshot: copies event arguments as the wire will carry them.
        outcomes: where a failed operation of a handler is published.
    """

    __slots__ = ("_bridge", "_ensure_loop", "_outcomes", "_snapshot", "server")

    def __init__(
        self,
        server: SocketIOServer,
        ensure_loop: Callable[[], LoopBridge],
        snapshot: Snapshot,
        outcomes: Outcomes,
    ) -> None:
        self.server = server
        self._ensure_loop = ensure_loop
        self._snapshot = snapshot
        self._outcomes = outcomes
        self._bridge: LoopBridge | None = None  # what ensure_loop returned (always the same)

    def bridge(self) -> LoopBridge:
        """The bridge to the server's loop (started on first use)."""
        return self._ensure_loop()

    def emit(
        self,
        event: str,
        args: tuple[Any, ...],
        *,
        namespace: str,
        to: Room | Iterable[Room] | None,
        skip_sid: Sid | Iterable[Sid] | None,
        callback: Callable[..., Any] | None,
        volatile: bool,
        origin: Origin | None,
    ) -> None:
        """Emit ``event`` with ``args`` (see ``SocketIOServer.emit``)."""
        ack = AckCallback(callback, origin) if callback is not None else None
        bridge = self._ensure_loop()
        server = self.server
        if bridge.in_loop_thread():
            server.emit(event, *args, namespace=namespace, to=to, skip_sid=skip_sid,
                        callback=ack, volatile=volatile)  # fmt: skip
            return
        if (
            ack is None
            and skip_sid is None
            and type(to) is str
            and event not in RESERVED_EVENTS
            and self._encoded_here(bridge, event, args, namespace, to, volatile, origin)
        ):
            return
        bridge.call(
            self._guarded,
            origin,
            self.server.emit,
            (event, *self._snapshot(args)),
            {
                "namespace": namespace,
                "to": to,
                "skip_sid": skip_sid,
                "callback": ack,
                "volatile": volatile,
            },
        )

    def emit_to_sender(self, event: str, args: tuple[Any, ...], scope: Sender) -> None:
        """Emit ``event`` to the client of the handler ``scope``, in its namespace: what
        :meth:`emit` does with ``to=scope.sid``, without a callback, skip or volatile,
        by the shortest way (on the loop, straight to the socket the scope refers to; in
        a worker thread, encoded there). The caller checked the event name."""
        bridge = self._bridge
        if bridge is None:
            bridge = self._bridge = self._ensure_loop()
        ref = scope.socket
        socket = None if ref is None else ref()
        namespace = scope.namespace
        sid = scope.sid
        if bridge.thread_id == get_ident():  # in_loop_thread(), inline
            if socket is not None:
                if self.server.emit_to_own(socket, event, args):
                    return
            elif self.server.emit_to_socket(event, args, namespace, sid):
                return
        else:
            if bridge.thread_id is None:  # not attached (inline): as emit() does, start a loop
                bridge = self._ensure_loop()
            server = self.server
            if socket is not None and socket.state is not _CLOSED and server.emits_unwatched:
                # _encoded_here(...) for the scope's own socket, inline: a call with eight
                # arguments costs more than most of what it does, once per emit.
                pieces = socket.client.parser.encode_event(namespace, [event, *args])
                if len(pieces) == 1:
                    messages = [OutgoingMessage(pieces[0])]
                else:
                    messages = messages_of(pieces, False)
                eio = socket.eio
                if eio.transport_name == "websocket":
                    protocol = eio.protocol
                    for message in messages:
                        message.ws_frame(protocol)
                bridge.call(self._send_encoded, scope, socket, messages, event, args)
                return
            if self._encoded_here(bridge, event, args, namespace, sid, False, scope, socket):
                return
        self.emit(event, args, namespace=namespace, to=sid, skip_sid=None, callback=None,
                  volatile=False, origin=scope)  # fmt: skip

    def _encoded_here(
        self,
        bridge: LoopBridge,
        event: str,
        args: tuple[Any, ...],
        namespace: str,
        sid: Sid,
        volatile: bool,
        origin: Origin | None,
        socket: Socket | None = None,
    ) -> bool:
        """An emit from another thread than the loop's to one local socket: encoded here,
        once, with its connection's parser (the snapshot and the wire form at once), and
        framed here too, so that the loop only writes the bytes. ``socket``: the socket
        ``sid`` when the caller holds it already (a handler's scope refers to it). False
        when that may not be done (something watches emits, or the socket is not here)."""
        server = self.server
        if not server.emits_unwatched:
            return False
        if socket is None or socket.state is _CLOSED:
            socket = server.get_socket(sid, namespace)  # a read of the loop's table: a hint
            if socket is None:
                return False
        pieces = socket.client.parser.encode_event(namespace, [event, *args])
        if len(pieces) == 1:
            messages = [OutgoingMessage(pieces[0], volatile=volatile)]
        else:
            messages = messages_of(pieces, volatile)
        eio = socket.eio
        if eio.transport_name == "websocket":
            for message in messages:
                message.ws_frame(eio.protocol)
        bridge.call(self._send_encoded, origin, socket, messages, event, args)
        return True

    def _send_encoded(
        self,
        origin: Origin | None,
        socket: Socket,
        messages: list[OutgoingMessage],
        event: str,
        args: tuple[Any, ...],
    ) -> None:
        """What :meth:`_guarded` does for ``server.send_encoded``, without its generic call
        (a tuple, an empty dict and ``fn(*args, **kwargs)``): once per emit of a ``def``
        handler, on the loop."""
        try:
            self.server.send_encoded(socket, messages, event, args)
        except Exception as exc:
            self._failed(origin, "send_encoded", exc)

    def call(
        self, event: str, args: tuple[Any, ...], *, to: Sid, namespace: str, timeout: float | None
    ) -> Any:
        """Emit to one client and wait for its acknowledgement.

        From a thread it blocks and returns the acknowledgement; on the loop it returns an
        awaitable of it.

        Raises:
            CallTimeoutError: no acknowledgement within ``timeout`` seconds.
            DisconnectedError: the client is not connected, or left before answering.
        """
        bridge = self._ensure_loop()
        server = self.server
        if bridge.in_loop_thread():
            return server.call(event, *args, to=to, namespace=namespace, timeout=timeout)
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()
        snapshot = self._snapshot(args)

        def start() -> None:
            try:
                future = server.call(event, *snapshot, to=to, namespace=namespace,
                                     timeout=timeout)  # fmt: skip
            except BaseException as exc:
                result.set_exception(exc)
                return
            future.add_done_callback(lambda f: _copy_outcome(f, result))

        bridge.call(start)
        try:
            return result.result(None if timeout is None else timeout + _CALL_GRACE)
        except concurrent.futures.TimeoutError:
            raise CallTimeoutError(f"no acknowledgement of {event!r} in {timeout} s") from None

    def is_local_sid(self, sid: Sid, namespace: str) -> bool:
        """Whether ``sid`` is a client of this server (a read of the loop's table: a hint
        for choosing the way to reach it; the operation itself checks again)."""
        self._ensure_loop()
        return self.server.get_socket(sid, namespace) is not None

    def enter_room(self, sid: Sid, room: Room, namespace: str, origin: Origin | None) -> None:
        """Put client ``sid`` in ``room``."""
        self._submit(origin, self.server.enter_room, sid, room, namespace)

    def leave_room(self, sid: Sid, room: Room, namespace: str, origin: Origin | None) -> None:
        """Take client ``sid`` out of ``room``."""
        self._submit(origin, self.server.leave_room, sid, room, namespace)

    def close_room(self, room: Room, namespace: str, origin: Origin | None) -> None:
        """Take every client out of ``room``."""
        self._submit(origin, self.server.close_room, room, namespace)

    def disconnect(self, sid: Sid, namespace: str, origin: Origin | None) -> None:
        """Disconnect client ``sid`` from ``namespace``."""
        self._submit(origin, self.server.disconnect, sid, namespace)

    def rooms(self, sid: Sid, namespace: str) -> list[Room]:
        """The rooms client ``sid`` is in, its own sid among them."""
        return self._ensure_loop().call_and_wait(self.server.rooms, sid, namespace)

    def bridge_for(self, target: Callable[..., Any]) -> LoopBridge | None:
        """The way to the loop a background ``target`` runs on: the server's for
        ``async def``, else None (a thread of its own)."""
        return self._ensure_loop() if is_async_callable(target) else None

    # -- internals ---------------------------------------------------------------------------

    def _submit(self, origin: Origin | None, fn: Callable[..., Any], *args: Any) -> None:
        """Run a server operation on the loop: now when on it, else in order, soon."""
        bridge = self._ensure_loop()
        if bridge.in_loop_thread():
            fn(*args)
        else:
            bridge.call(self._guarded, origin, fn, args, {})

    def _guarded(
        self,
        origin: Origin | None,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """Run an operation handed over from another thread; report its failure."""
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            self._failed(origin, getattr(fn, "__name__", repr(fn)), exc)

    def _failed(self, origin: Origin | None, name: str, exc: Exception) -> None:
        """Log an operation ``name`` that failed on the loop, and publish it as the
        outcome of the handler that made it (when one did)."""
        if origin is None:
            logger.error("%s() failed", name, exc_info=exc)
            return
        logger.error("%s() from the handler of %r (sid %s) failed", name, origin.event,
                     origin.sid, exc_info=exc)  # fmt: skip
        if self._outcomes.active:
            self._outcomes.publish(
                Outcome(
                    origin.eio_sid,
                    origin.sid,
                    origin.namespace,
                    origin.event,
                    "operation",
                    None,
                    None,
                    exc,
                )
            )


def _copy_outcome(source: Any, target: concurrent.futures.Future[Any]) -> None:
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())
