"""A real hub on a Unix socket in a temporary directory, and workers' links to it whose
frames are queued, for the tests of the local cluster (hub, links, session routing)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from flask_realtime.adapters.local import LocalLink
from flask_realtime.adapters.local_hub import LocalHub
from flask_realtime.adapters.local_wire import FrameKind

__all__ = ["DEADLINE", "Listening", "running_hub"]

DEADLINE = 5.0


class Listening:
    """A link whose frames of the kinds given are queued as ``(kind, peer, body)``."""

    def __init__(self, link: LocalLink, kinds: tuple[FrameKind, ...] = tuple(FrameKind)) -> None:
        self.link = link
        self.frames: asyncio.Queue[tuple[int, int, bytes]] = asyncio.Queue()
        for kind in kinds:
            link.subscribe(kind, lambda peer, body, kind=kind: self.frames.put_nowait(
                (kind, peer, body)))  # fmt: skip

    async def next(self) -> tuple[int, int, bytes]:
        return await asyncio.wait_for(self.frames.get(), DEADLINE)


@asynccontextmanager
async def running_hub() -> AsyncIterator[LocalHub]:
    """A started hub in a fresh directory; stopped, and the directory removed, after."""
    with tempfile.TemporaryDirectory(prefix="hub-test-") as directory:
        hub = LocalHub(os.path.join(directory, "hub.sock"))
        await hub.start()
        try:
            yield hub
        finally:
            await hub.stop()
