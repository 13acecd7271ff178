"""The hub of ``socketio.run(app, workers=N)``: the supervisor's relay between its workers.

Several workers on one machine need no Redis: the supervising process listens on a Unix
socket, every worker connects to it (:class:`~flask_realtime.adapters.local.LocalLink`),
and the hub passes each frame (:mod:`flask_realtime.adapters.local_wire`) on: to every other
worker, or to the one it names. It never decodes a body; it rewrites the frame's ``peer``
to the sender, so the recipient knows whom to answer.

Why a hub and not a mesh of worker-to-worker connections: one connection per worker, no
discovery when a worker restarts, and the hub sees a worker leave (its connection closes)
and tells the others at once (GONE), so a request waiting for that worker's answer ends
then instead of at its timeout. The cost is one more hop through the supervisor for each
message, which is a relay of bytes with no decoding.

A worker names itself in its HELLO (``socketio.run(app, workers=N)`` gives each worker
its index), or asks the hub for an index (:data:`~flask_realtime.adapters.local_wire.ASSIGN`,
as a gunicorn worker does, which has no stable index of its own): the hub answers with a
HELLO naming the lowest index no connected worker holds.

Flow control: a worker that reads too slowly has at most :data:`MAX_BUFFERED` bytes queued
for it; past that, frames for it are dropped (and counted in one warning), as the broker
adapters drop what they cannot publish: the others never stall for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import cast

from flask_realtime.adapters.local_wire import (
    ALL,
    ASSIGN,
    HEADER,
    MAX_INDEX,
    RELAY_KINDS,
    FrameKind,
    FrameReader,
    frame,
)
from flask_realtime.exceptions import ProtocolError

__all__ = ["MAX_BUFFERED", "LocalHub"]

logger = logging.getLogger(__name__)

MAX_BUFFERED = 64 * 1024 * 1024
"""Bytes queued for one worker, at most; past it, frames for that worker are dropped."""


class LocalHub:
    """Relays frames between the workers connected to the Unix socket at ``path``;
    ``on_joined(index)`` is called when worker ``index`` says hello."""

    def __init__(self, path: str, on_joined: Callable[[int], object] | None = None) -> None:
        self.path = path
        self._on_joined = on_joined
        self._links: dict[int, _HubLink] = {}
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen (on the running loop); the socket file is made readable by this user only."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _HubLink(self), self.path)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        """Stop listening and drop every link."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links.values()):
            link.close()
        self._links.clear()

    @property
    def workers(self) -> list[int]:
        """The indexes of the workers connected now."""
        return sorted(self._links)

    # -- for the links -------------------------------------------------------------------

    def assign(self) -> int | None:
        """The lowest index no connected worker holds, or None when all are taken."""
        for index in range(MAX_INDEX + 1):
            if index not in self._links:
                return index
        return None

    def joined(self, index: int, link: _HubLink) -> None:
        old = self._links.get(index)
        if old is not None and old is not link:
            old.close()  # a restarted worker replaces a link not yet seen closing
        self._links[index] = link
        if self._on_joined is not None:
            self._on_joined(index)

    def left(self, index: int, link: _HubLink) -> None:
        if self._links.get(index) is link:
            del self._links[index]
            gone = frame(FrameKind.GONE, index)
            for other in self._links.values():
                other.send((gone,))

    def route(self, sender: int, kind: int, peer: int, body: bytes) -> None:
        """Pass one frame on: to every other worker (``peer`` ALL) or to ``peer``."""
        head = HEADER.pack(len(body) + HEADER.size - 4, kind, sender)
        if peer == ALL:
            for index, link in self._links.items():
                if index != sender:
                    link.send((head, body))
            return
        target = self._links.get(peer)
        if target is not None:
            target.send((head, body))
            return
        source = self._links.get(sender)
        if source is not None and (kind == FrameKind.REQUEST or kind in RELAY_KINDS):
            source.send((frame(FrameKind.GONE, peer),))  # its requests to it end now


class _HubLink(asyncio.Protocol):
    """The hub's end of one worker's connection."""

    def __init__(self, hub: LocalHub) -> None:
        self._hub = hub
        self._reader = FrameReader()
        self._transport: asyncio.Transport | None = None
        self.index: int | None = None
        self._dropped = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._reader.feed(data)
        except ProtocolError as exc:
            logger.error("local hub: dropping a worker's link: %s", exc)
            self.close()
            return
        hub = self._hub
        for kind, peer, body in frames:
            if self.index is None:
                if not self._hello(kind, peer):
                    self.close()
                    return
                continue
            hub.route(self.index, kind, peer, body)

    def _hello(self, kind: int, peer: int) -> bool:
        """A worker's first frame: whether it was a good HELLO (then it joined)."""
        if kind != FrameKind.HELLO:
            logger.error("local hub: a link did not say hello first")
            return False
        index = peer
        if peer == ASSIGN:
            assigned = self._hub.assign()
            if assigned is None:
                logger.error("local hub: no index left for another worker")
                return False
            index = assigned
            self.send((frame(FrameKind.HELLO, index),))
        elif peer > MAX_INDEX:
            logger.error("local hub: a worker said hello with index %d", peer)
            return False
        self.index = index
        self._hub.joined(index, self)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.index is not None:
            self._hub.left(self.index, self)
        if self._dropped:
            logger.warning(
                "local hub: %d message(s) to worker %s were dropped (it read too slowly)",
                self._dropped,
                self.index,
            )

    def send(self, parts: tuple[bytes, ...]) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_BUFFERED:
            if not self._dropped:
                logger.warning("local hub: worker %s reads too slowly; dropping", self.index)
            self._dropped += 1
            return
        transport.writelines(parts)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
