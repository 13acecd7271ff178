"""The cluster-wide operations of one app: fetch_sockets, server_side_emit, broadcast calls.

They reach every server through the app's cluster adapter
(:mod:`flask_realtime.server.cluster_adapter`, ``message_queue=``); with the in-memory
adapter they see this server only, so an app written for a cluster also runs as one
process.

Each runs on the server's loop: from a thread it blocks until done (with a deadline a
little past its own timeout); on the loop it returns an awaitable of the same.

Server-side events (another server's ``server_side_emit``) go to the handlers registered
with ``@socketio.on_server_event`` (:class:`ServerEvents`): a ``def`` handler runs on the
worker pool inside the app context, an ``async def`` one on the loop; its return value is
the answer sent back when the emitter asked for answers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ..exceptions import CallTimeoutError, ConfigurationError, DisconnectedError
from ..protocol.socketio import Packet, PacketType
from ..server.adapter import BroadcastOptions
from ..server.cluster_adapter import BroadcastAcks, ClusterAdapter, collect_acks
from ..server.memory_adapter import InMemoryAdapter
from .handlers import is_async_callable

if TYPE_CHECKING:
    from flask import Flask

    from ..runtime.workers import WorkerPool
    from ..server import SocketIOServer
    from ..typing import NamespaceName, Room
    from .bridge import LoopBridge

__all__ = ["ClusterOps", "ServerEvents"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_GRACE = 5.0


def _room_set(rooms: Room | Iterable[Room] | None) -> frozenset[Room]:
    if rooms is None:
        return frozenset()
    if isinstance(rooms, str):
        return frozenset((rooms,))
    return frozenset(rooms)


class ServerEvents:
    """The handlers of server-side events, by namespace and event (any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[tuple[str, str], Callable[..., Any]] = {}

    def on(self, event: str, handler: Callable[..., Any], namespace: str = "/") -> None:
        with self._lock:
            self._handlers[(namespace, event)] = handler

    def find(self, namespace: str, event: str) -> Callable[..., Any] | None:
        with self._lock:
            return self._handlers.get((namespace, event))

    def namespaces(self) -> set[str]:
        with self._lock:
            return {nsp for nsp, _ in self._handlers}


class ClusterOps:
    """The cluster-wide operations of one app (see the module docstring).

    Args:
        app: the app (server-side event handlers run in its app context).
        server: its Socket.IO server.
        bridge: the app's bridge to the loop.
        ensure_loop: the bridge to the server's loop, started on first use.
        pool: the worker pool ``def`` handlers run on.
        events: the server-side event handlers.
    """

    def __init__(
        self,
        app: Flask,
        server: SocketIOServer,
        bridge: LoopBridge,
        ensure_loop: Callable[[], LoopBridge],
        pool: WorkerPool,
        events: ServerEvents,
    ) -> None:
        self._app = app
        self._server = server
        self._bridge = bridge
        self._ensure_loop = ensure_loop
        self._pool = pool
        self._events = events
        self.bind_adapter(server.adapter)

    def bind_adapter(self, adapter: object) -> None:
        """Receive server-side events through ``adapter`` (the server's, when it is a
        cluster adapter; a worker of ``run(workers=N)`` gets one after ``init_app``)."""
        if isinstance(adapter, ClusterAdapter):
            adapter.on_server_side_emit = self._on_server_event
            for namespace in self._events.namespaces():
                adapter.watch(namespace)  # not open yet: recorded, subscribed at open

    @property
    def cluster(self) -> ClusterAdapter | None:
        """The cluster adapter, or None for one process."""
        adapter = self._server.adapter
        return adapter if isinstance(adapter, ClusterAdapter) else None

    def watch(self, namespace: str) -> None:
        """Listen to ``namespace``'s server-side events (a handler was registered)."""
        cluster = self.cluster
        if cluster is None:
            return
        bridge = self._bridge
        if not bridge.attached or bridge.in_loop_thread():
            cluster.watch(namespace)  # not started yet, or on the loop
        else:
            bridge.call(cluster.watch, namespace)

    # -- running on the loop ---------------------------------------------------------------

    def _run(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float | None) -> Any:
        bridge = self._ensure_loop()
        if bridge.in_loop_thread():
            return make()
        loop = bridge.loop
        if loop is None:  # pragma: no cover - ensure_loop attaches one
            raise DisconnectedError("the server's loop is not running")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def start() -> None:
            task = loop.create_task(make())

            def copy(done: asyncio.Task[T]) -> None:
                if done.cancelled():
                    future.cancel()
                elif done.exception() is not None:
                    future.set_exception(done.exception())
                else:
                    future.set_result(done.result())

            task.add_done_callback(copy)

        bridge.call(start)
        try:
            return future.result(None if timeout is None else timeout + _GRACE)
        except concurrent.futures.TimeoutError:
            raise CallTimeoutError("the cluster did not answer in time") from None

    # -- fetch_sockets ---------------------------------------------------------------------

    def fetch_sockets(
        self, namespace: str, to: Room | Iterable[Room] | None, timeout: float | None
    ) -> Any:
        """The sockets in ``to`` (every socket when None) on every server, as dicts."""
        opts = BroadcastOptions(_room_set(to))

        async def fetch() -> list[dict[str, Any]]:
            cluster = self.cluster
            if cluster is not None:
                return await cluster.fetch_sockets(namespace, opts, timeout)
            from ..server.cluster_adapter import describe_socket

            adapter = self._server.adapter
            return [
                describe_socket(s, adapter.rooms(namespace, s.sid))
                for s in adapter.local_sockets(namespace, opts)
            ]

        return self._run(fetch, timeout or 5.0)

    # -- server_side_emit ------------------------------------------------------------------

    def server_side_emit(
        self,
        event: str,
        args: tuple[Any, ...],
        namespace: str,
        callback: Callable[[list[Any]], Any] | None,
        timeout: float | None,
    ) -> None:
        """Send ``event`` to the other servers; ``callback(answers)`` runs on the worker
        pool once every server answered, or at the timeout with what arrived."""
        packet = [event, *args]

        async def emit() -> list[Any]:
            cluster = self.cluster
            if cluster is None:
                return []
            return await cluster.server_side_emit(
                namespace, packet, want_answers=callback is not None, timeout=timeout
            )

        if callback is None:
            bridge = self._ensure_loop()
            if bridge.in_loop_thread():
                asyncio.get_running_loop().create_task(emit())
            else:
                bridge.call(lambda: asyncio.get_running_loop().create_task(emit()))
            return
        app = self._app
        pool = self._pool

        def deliver(answers: list[Any]) -> None:
            def job() -> None:
                try:
                    with app.app_context():
                        callback(answers)
                except Exception:
                    logger.exception("the server_side_emit callback of %r failed", event)

            pool.submit(job)

        async def emit_then_deliver() -> None:
            deliver(await emit())

        bridge = self._ensure_loop()
        if bridge.in_loop_thread():
            asyncio.get_running_loop().create_task(emit_then_deliver())
        else:
            bridge.call(lambda: asyncio.get_running_loop().create_task(emit_then_deliver()))

    def _on_server_event(
        self, namespace: NamespaceName, packet: list[Any], reply: Callable[[Any], None] | None
    ) -> None:
        """Another server's server_side_emit arrived (on the loop)."""
        event = str(packet[0])
        handler = self._events.find(namespace, event)
        if handler is None:
            logger.debug("no server-side handler for %r in %s", event, namespace)
            return
        args = tuple(packet[1:])
        app = self._app
        if is_async_callable(handler):

            async def run_async() -> None:
                try:
                    with app.app_context():
                        result = await handler(*args)
                except Exception:
                    logger.exception("the server-side handler of %r failed", event)
                    return
                if reply is not None:
                    reply(result)

            asyncio.get_running_loop().create_task(run_async())
            return
        bridge = self._ensure_loop()

        def job() -> None:
            try:
                with app.app_context():
                    result = handler(*args)
            except Exception:
                logger.exception("the server-side handler of %r failed", event)
                return
            if reply is not None:
                bridge.call(reply, result)

        self._pool.submit(job)

    # -- call() to many --------------------------------------------------------------------

    def call_many(
        self,
        event: str,
        args: tuple[Any, ...],
        *,
        to: Room | Iterable[Room] | None,
        namespace: str,
        timeout: float,
    ) -> Any:
        """Emit to every client in ``to`` on every server and collect their answers.

        Returns a :class:`~flask_realtime.server.cluster_adapter.BroadcastAcks`; when
        ``to`` named one client of another server, that client's answer itself.
        """
        opts = BroadcastOptions(_room_set(to))
        single = to if isinstance(to, str) else None

        async def call() -> Any:
            server = self._server
            nsp = server.namespaces.get(namespace)
            ack_id = nsp.next_ack_id() if nsp is not None else 0
            packet = Packet(PacketType.EVENT, namespace, [event, *args], ack_id)
            cluster = self.cluster
            if cluster is not None:
                acks = await cluster.broadcast_acks(namespace, packet, opts, timeout)
            elif isinstance(server.adapter, InMemoryAdapter):
                acks = await collect_acks(server.adapter, namespace, packet, opts, timeout)
            else:
                raise ConfigurationError("call() to many needs an in-memory-based adapter")
            if single is None:
                return acks
            if single in acks.responses and len(acks.responses) == 1 and not acks.missing_count:
                return acks.responses[single]
            if not acks.responses and acks.missing == [single]:
                raise CallTimeoutError(f"no acknowledgement of {event!r} in {timeout} s")
            if cluster is not None and await _one_unnamed_client(cluster, namespace, single, acks):
                # A Node server answered for one client without naming it: it was `single`.
                if acks.responses:
                    return next(iter(acks.responses.values()))
                raise CallTimeoutError(f"no acknowledgement of {event!r} in {timeout} s")
            if not acks.responses and not acks.missing_count:
                raise DisconnectedError(f"no client is connected as, or in, {single!r}")
            return acks

        return self._run(call, timeout)


async def _one_unnamed_client(
    cluster: ClusterAdapter, namespace: str, single: str, acks: BroadcastAcks
) -> bool:
    """Whether ``acks`` hold one client that a server did not name (Node's adapter names
    none), and ``single`` is that client's sid rather than a room of one."""
    one_answer = len(acks.responses) == 1 and not acks.missing_count
    one_silent = not acks.responses and acks.missing_count == 1
    if single in acks.responses or acks.missing or not (one_answer or one_silent):
        return False
    found = await cluster.fetch_sockets(namespace, BroadcastOptions(frozenset((single,))))
    return [s.get("id") for s in found if isinstance(s, dict)] == [single]


__all__ += ["BroadcastAcks"]
