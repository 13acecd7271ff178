"""A proxy in front of a broker, for the TLS and outage tests: the suite's
:class:`~support.tcp_proxy.TcpProxy`, which may also terminate TLS (the shared RabbitMQ
has no TLS listener, and giving it one means changing its configuration and restarting
it), and whose outage lasts until :meth:`BrokerProxy.restore` (the shared broker itself is
never stopped)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from support.tcp_proxy import TcpProxy

_FOREVER = 24 * 3600.0


class BrokerProxy(TcpProxy):
    """Listens on a free port of 127.0.0.1 (:attr:`port`) and pipes to ``target``.

    Args:
        target: ``(host, port)`` of the broker.
        tls: a server-side context: clients speak TLS to the proxy, the proxy speaks plain
            TCP to the broker.
    """

    def __init__(self, target: tuple[str, int], tls: ssl.SSLContext | None = None) -> None:
        super().__init__(target[1], target[0])
        self.tls = tls
        self.start()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(NotImplementedError):  # TLS has no half-close (write_eof)
            await TcpProxy._pipe(reader, writer)

    def down(self) -> None:
        """Abort every connection, and refuse new ones until :meth:`restore`."""
        self.cut(pause=_FOREVER)

    def restore(self) -> None:
        """Accept connections again."""
        self._paused_until = 0.0
