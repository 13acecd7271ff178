"""``socketio.run(app, workers=N)``: N worker processes on one port, one cluster.

What each part does:

- this process binds the port (a port in use fails here, once, before any worker exists),
  makes a private run directory, and becomes the supervisor
  (:class:`~flask_realtime.runtime.multiprocess.supervisor.Supervisor`), with the workers'
  hub (:class:`~flask_realtime.adapters.local_hub.LocalHub`) on its loop;
- each worker (a fork, so the app is loaded once) serves the inherited listening socket
  on a loop of its own, with the app's service made a member of the cluster: its engine's
  sids name the worker, its endpoint is wrapped by the session routing (polling requests
  for another worker's session are forwarded to it, WebSocket upgrades hand it the
  connection), and its adapter is the app's ``message_queue`` when there is one, else the
  :class:`~flask_realtime.adapters.local.LocalAdapter` over the hub.

A worker stops by itself when its link to the hub closes (the supervisor is gone).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import ssl
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..adapters.bus_forwarding import RedisForwarder, bus_url
from ..adapters.local import LocalAdapter, LocalLink
from ..adapters.local_hub import LocalHub
from ..adapters.local_wire import ALL, FrameKind
from ..exceptions import ConfigurationError
from ..runtime import Server
from ..runtime.multiprocess.handoff import ConnectionHandoff
from ..runtime.multiprocess.routing import SessionRouter
from ..runtime.multiprocess.supervisor import Supervisor

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from .service import AppService

__all__ = ["MAX_WORKERS", "ClusterMember", "bind_listener", "join_bus", "run_workers"]

logger = logging.getLogger(__name__)

MAX_WORKERS = 1024


def bind_listener(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """The listening socket every worker inherits.

    Raises:
        OSError: the address cannot be bound (``EADDRINUSE``: the port is in use).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.setblocking(False)
    return sock


def run_workers(
    service: AppService,
    *,
    workers: int,
    listener: socket.socket,
    host: str,
    wsgi_app: WSGIApplication,
    ssl_context: ssl.SSLContext | None,
    log: bool,
    announce: Callable[[int], object],
) -> int:
    """Serve the app with ``workers`` processes on ``listener`` until stopped; the exit
    status (0, or 1 when the workers could not start).

    Raises:
        ConfigurationError: the app already runs on a loop in this process (an emit or a
            background task before ``run()``), which forked workers would not have.
    """
    if service.bridge.attached:
        raise ConfigurationError(
            "run(workers=N) forks the worker processes, but this app's Socket.IO service "
            "already runs in this process (socketio.emit, start_background_task or the test "
            "client was used before run()): start background work in a handler or after "
            "run() instead, or run one worker"
        )
    port = int(listener.getsockname()[1])
    run_dir = tempfile.mkdtemp(prefix="flask-realtime-")
    hub_path = os.path.join(run_dir, "hub.sock")
    supervisor: Supervisor

    def joined(index: int) -> None:
        supervisor.on_joined(index)

    hub = LocalHub(hub_path, on_joined=joined)

    def start_worker(index: int) -> None:
        _serve_worker(service, index, run_dir, hub_path, listener, host, port,
                      wsgi_app, ssl_context, log)  # fmt: skip

    supervisor = Supervisor(
        workers,
        start_worker,
        hub_start=hub.start,
        hub_stop=hub.stop,
        grace=service.host.grace,
        announce=lambda: announce(port),
    )
    try:
        return supervisor.run()
    finally:
        listener.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def _serve_worker(
    service: AppService,
    index: int,
    run_dir: str,
    hub_path: str,
    listener: socket.socket,
    host: str,
    port: int,
    wsgi_app: WSGIApplication,
    ssl_context: ssl.SSLContext | None,
    log: bool,
) -> None:
    """In worker ``index``: join the cluster, serve until stopped."""
    # The supervisor gone: stop rather than serve alone (it starts no worker again).
    member = ClusterMember(service, LocalLink(hub_path, index), run_dir,
                           tls=ssl_context is not None, on_hub_lost=service.host.stop,
                           bus=join_bus(service))  # fmt: skip
    server = Server(
        wsgi_app=wsgi_app,
        endpoint=member.endpoint,
        host=host,
        port=port,
        ssl_context=ssl_context,
        limits=service.options.http_limits,
        log=log,
        sockets=[listener],
    )

    def started(server: Server) -> None:
        member.started(server)
        service.own_process()  # the worker process is ours

    try:
        service.host.serve(server, on_started=started)
    finally:
        member.close()


def join_bus(service: AppService) -> RedisForwarder | None:
    """Request forwarding over the app's message queue when it is one Redis server with
    classic pub/sub (between machines), with this process's number in the cluster; else
    None (:func:`~flask_realtime.adapters.bus_forwarding.bus_url`).

    Raises:
        BrokerUnavailableError: Redis cannot be reached.
    """
    url = bus_url(service.options.message_queue)
    if url is None:
        return None
    return RedisForwarder.join(url, service.options.channel)


def check_recovery_across_workers(service: AppService) -> None:
    """Refuse connection state recovery kept in each worker's memory: a client that comes
    back opens a new connection, which may reach another worker, which does not know its
    session (recovery would work by chance). With a message_queue, the adapter decides:
    Redis Streams shares the sessions, the pub/sub adapters refuse recovery themselves.

    Raises:
        ConfigurationError: ``connection_state_recovery`` with no ``message_queue``.
    """
    options = service.options
    if options.connection_state_recovery is not None and options.message_queue is None:
        raise ConfigurationError(
            "connection_state_recovery with several worker processes needs the sessions "
            "shared between them: pass message_queue='redis+streams://...' (Redis "
            "Streams), or run one worker; kept in each worker's memory, a client that "
            "comes back may reach a worker that does not know its session"
        )


class ClusterMember:
    """What makes this worker process a member of its machine's cluster, whoever forked
    it (``run(workers=N)``'s supervisor, or gunicorn's master):

    - its engine's sids start with the worker's index (``link.index``);
    - its endpoint (:attr:`endpoint`) is the session routing around the app's own;
    - its adapter is the app's ``message_queue`` when there is one, else a
      :class:`~flask_realtime.adapters.local.LocalAdapter` over the hub;
    - ``on_hub_lost`` is called when the link to the hub closes;
    - with ``bus`` (the app's message queue is Redis: :func:`join_bus`), requests are
      forwarded over Redis and the sids carry the bus's number, so that the servers of
      other machines reach this worker's sessions too.

    Raises:
        ConfigurationError: the app's service already runs on a loop in this process
            (its adapter cannot be changed any more).
    """

    def __init__(
        self,
        service: AppService,
        link: LocalLink,
        run_dir: str,
        *,
        tls: bool,
        on_hub_lost: Callable[[], object],
        bus: RedisForwarder | None = None,
    ) -> None:
        if service.bridge.attached:
            raise ConfigurationError(
                "several worker processes share their sessions through the app's cluster, "
                "but this app's Socket.IO service already runs in this process "
                "(socketio.emit, start_background_task or the test client was used while "
                "the app was loaded): start background work in a handler instead, or run "
                "one worker"
            )
        check_recovery_across_workers(service)
        if service.options.message_queue is None:
            adapter = LocalAdapter(link)
            service.server.adapter = adapter
            adapter.bind(service.server)
            service.cluster.bind_adapter(adapter)
        self.index = index = link.index if bus is None else bus.index
        service.engine.sid_prefix = f"{index}."
        self._link = link
        self._bus = bus
        self._connecting: list[asyncio.Task[None]] = []
        self._handoff = ConnectionHandoff(run_dir, index)
        forwarder = link if bus is None else bus
        self.endpoint = SessionRouter(service.host.endpoint(), forwarder, self._handoff, tls=tls)

        def gone(peer: int, body: bytes) -> None:
            if peer == ALL:
                on_hub_lost()

        link.subscribe(FrameKind.GONE, gone)

    def started(self, server: Server) -> None:
        """On the worker's loop, once the server listens: take hand-offs, reach the hub."""
        self._handoff.start(server.adopt)
        loop = asyncio.get_running_loop()
        self._connecting = [loop.create_task(self._link.connect())]
        if self._bus is not None:
            self._connecting.append(loop.create_task(self._bus.connect()))

    def close(self) -> None:
        self._handoff.stop()
        self._link.close()
