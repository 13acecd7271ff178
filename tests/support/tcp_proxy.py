"""A TCP proxy on a loopback port that a test can cut: the network failing under a client.

``TcpProxy(target_port).start()`` listens on a free port of 127.0.0.1 and pipes each
connection to the target. :meth:`TcpProxy.cut` aborts every open connection on both
sides at once (an RST, as a dropped network shows it to both ends), and for ``pause``
seconds after it answers new connections by closing them, so that a client that retries
at once stays cut off for a while. It runs its own event loop in a daemon thread;
:meth:`cut` and :meth:`stop` are called from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from concurrent.futures import Future

__all__ = ["TcpProxy"]


class TcpProxy:
    """See the module docstring."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0
        """Connections accepted and piped so far (not those refused during a pause)."""
        self.cuts = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy",
                                        daemon=True)  # fmt: skip
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._paused_until = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen()).result(5)
        return self

    def retarget(self, port: int) -> None:
        """Pipe the connections made from now on to ``port`` (the open ones stay)."""
        self.target = (self.target[0], port)

    def cut(self, pause: float = 0.0) -> None:
        """Abort every open connection; refuse new ones for ``pause`` seconds."""

        async def cut() -> None:
            self._paused_until = time.monotonic() + pause
            self.cuts += 1
            for writer in list(self._open):
                writer.transport.abort()
            self._open.clear()

        self._call(cut()).result(5)

    def stop(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._open):
                writer.transport.abort()

        self._call(stop()).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coroutine: object) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._paused_until:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._open.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for end in (writer, up_writer):
                self._open.discard(end)
                end.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            if not writer.transport.is_closing():
                writer.write_eof()
