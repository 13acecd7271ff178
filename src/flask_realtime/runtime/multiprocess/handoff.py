"""Handing a client's connection to the worker that owns its session (one machine).

A WebSocket upgrade that reaches a worker which does not own its session is not relayed:
the connection itself moves. The worker that read the upgrade request sends the socket's
file descriptor (``SCM_RIGHTS``) and the request's bytes to the owner's handoff socket, a
Unix datagram socket per worker; the owner serves the connection as if it had accepted it,
starting with those bytes, and the sender closes its copy of the descriptor. The client
sees nothing: it has not sent a byte since its request, and gets the owner's ``101``.

After that the WebSocket costs nothing more than one accepted by the owner: no hop per
frame. Datagrams keep each hand-off whole (descriptor and bytes together), and a Unix
datagram socket never loses one: when the owner's queue is full the sender's ``sendmsg``
fails at once, and the client's connection is closed (it reconnects). TLS connections
cannot move (their state lives in the process that did the handshake); the session
routing answers those upgrades with an error instead, and the client stays on polling.
"""

from __future__ import annotations

import array
import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import cast

__all__ = ["ConnectionHandoff", "handoff_path"]

logger = logging.getLogger(__name__)

MAX_HANDOFF = 192 * 1024
"""The largest request a hand-off carries (a Unix datagram must fit the socket buffer);
an upgrade request is a head of at most ``max_header_size`` (64 KiB by default)."""


def handoff_path(directory: str, index: int) -> str:
    """The handoff socket of worker ``index`` in the run directory."""
    return os.path.join(directory, f"handoff-{index}.sock")


Adopt = Callable[[socket.socket, bytes], None]
"""Serves a connection handed over: the socket, and the bytes read from it already."""


class ConnectionHandoff:
    """Worker ``index``'s end of the hand-offs: receives connections, sends them on.

    Args:
        directory: the run directory every worker's handoff socket is in.
        index: this worker.
    """

    def __init__(self, directory: str, index: int) -> None:
        self.directory = directory
        self.index = index
        self._inbox: socket.socket | None = None
        self._outbox: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, adopt: Adopt) -> None:
        """Bind this worker's handoff socket and serve what arrives with ``adopt`` (on the
        running loop)."""
        path = handoff_path(self.directory, self.index)
        if os.path.exists(path):
            os.unlink(path)  # left by this worker's previous life
        inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        inbox.bind(path)
        inbox.setblocking(False)
        outbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        outbox.setblocking(False)
        self._inbox, self._outbox = inbox, outbox
        loop = self._loop = asyncio.get_running_loop()
        loop.add_reader(inbox.fileno(), self._receive, adopt)

    def stop(self) -> None:
        """Stop receiving hand-offs."""
        inbox, self._inbox = self._inbox, None
        if inbox is not None:
            if self._loop is not None:
                self._loop.remove_reader(inbox.fileno())
            inbox.close()
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None

    def send(self, owner: int, transport: asyncio.Transport, data: bytes) -> bool:
        """Give ``transport``'s connection and ``data`` (read from it) to worker ``owner``.

        Returns whether the owner has it now; either way the caller closes its transport.
        """
        outbox = self._outbox
        sock = transport.get_extra_info("socket")
        if outbox is None or sock is None or len(data) > MAX_HANDOFF:
            return False
        fds = array.array("i", [sock.fileno()])
        try:
            outbox.sendmsg(
                [data],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)],
                0,
                handoff_path(self.directory, owner),
            )
        except OSError as exc:
            logger.warning("cannot hand a connection to worker %d: %s", owner, exc)
            return False
        return True

    def reaches(self, owner: int) -> bool:
        """Whether worker ``owner`` takes hand-offs here (it is on this machine)."""
        return os.path.exists(handoff_path(self.directory, owner))

    def protocol_for(self, owner: int, head: bytes) -> asyncio.Protocol:
        """The protocol that takes an upgrade connection over only to hand it to
        ``owner``, with ``head`` (the request) and whatever was read past it."""
        return _HandingOver(self, owner, head)

    def _receive(self, adopt: Adopt) -> None:
        inbox = self._inbox
        if inbox is None:
            return
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(inbox, MAX_HANDOFF, 1)
            except BlockingIOError:
                return
            except OSError as exc:
                logger.warning("handoff socket: %s", exc)
                return
            if not fds:
                continue
            for extra in fds[1:]:
                os.close(extra)
            try:
                sock = socket.socket(fileno=fds[0])
            except OSError:
                os.close(fds[0])
                continue
            sock.setblocking(False)
            adopt(sock, data)


class _HandingOver(asyncio.Protocol):
    """Holds a connection for one loop turn, then hands it (and its bytes) over."""

    def __init__(self, handoff: ConnectionHandoff, owner: int, head: bytes) -> None:
        self._handoff = handoff
        self._owner = owner
        self._data = bytearray(head)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.pause_reading()
        # The HTTP layer feeds the bytes read past the request right after this call.
        asyncio.get_running_loop().call_soon(self._go)

    def data_received(self, data: bytes) -> None:
        self._data += data

    def _go(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size():
            logger.warning("cannot hand a connection over while a response is being written")
        elif not self._handoff.send(self._owner, transport, bytes(self._data)):
            logger.warning("a WebSocket upgrade for worker %d's session was dropped", self._owner)
        # Closing our descriptor leaves the connection open in the owner's process.
        transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
