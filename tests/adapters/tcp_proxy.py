"""A TCP proxy in front of a broker, in a thread of the test: it may terminate TLS (the
system RabbitMQ has no TLS listener, and configuring one needs its config changed and a
restart), and it may be cut (every connection closed, new ones refused) and restored,
which stops the broker for the servers behind it without stopping the shared broker."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from typing import Any


class TcpProxy:
    """Listens on 127.0.0.1 (a free port, :attr:`port`) and forwards to ``target``.

    Args:
        target: ``(host, port)`` of the broker.
        tls: a server-side context: clients speak TLS to the proxy, the proxy speaks
            plain TCP to the broker.
    """

    def __init__(self, target: tuple[str, int], tls: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.tls = tls
        self.cut_off = False
        self.accepted = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = self._run(self._listen())
        self.port: int = self._server.sockets[0].getsockname()[1]

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.close()
            return
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()

    def cut(self) -> None:
        """Close every connection and refuse new ones (the broker is "down")."""

        async def cut() -> None:
            self.cut_off = True
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._run(cut())

    def restore(self) -> None:
        """Accept connections again (the broker is "back")."""
        self.cut_off = False

    def close(self) -> None:
        self.cut()

        async def close() -> None:
            self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        self._run(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
