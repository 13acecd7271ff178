"""The cluster every cluster test drives: server processes (``cluster_app.py``) on one
message queue (Redis, sharded Redis, a Redis Cluster or RabbitMQ: the URL says which) and
one channel of the test's own, with python-socketio and official JS clients on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .redis_support import JsClients, PyClient, ServerProcess, unique_channel, wait_until


class Cluster:
    """Servers named ``names`` on ``url``; clients made here are closed by :meth:`close`."""

    def __init__(self, url: str, tmp: Path, names: tuple[str, ...] = ("a", "b", "c")) -> None:
        self.url = url
        self.channel = unique_channel()
        self.servers: dict[str, ServerProcess] = {}
        self.clients: list[PyClient] = []
        self.js: list[JsClients] = []
        try:
            for name in names:
                self.servers[name] = ServerProcess(name, url, self.channel, tmp)
        except BaseException:
            self.close()
            raise

    def py(self, server: str, answer: Any = None) -> PyClient:
        client = PyClient(self.servers[server].url, answer)
        self.clients.append(client)
        return client

    def js_clients(self, specs: list[tuple[str, str, bool]]) -> JsClients:
        """``(id, server, answers)`` each: official socket.io-client sockets."""
        clients = JsClients([
            {"id": ident, "url": self.servers[server].url, "answer": answer}
            for ident, server, answer in specs
        ])  # fmt: skip
        self.js.append(clients)
        return clients

    @staticmethod
    def wait_reconnected(
        sender: PyClient, receiver: PyClient, what: str, timeout: float = 30
    ) -> None:
        """Emit ``"after"`` through ``sender``'s server (numbered, again and again) until
        ``receiver`` on another server gets one: the cluster carries messages again."""
        n = 0

        def delivered() -> bool:
            nonlocal n
            n += 1
            sender.call("emit", {"event": "after", "args": [n]})
            return bool(receiver.got("after"))

        wait_until(delivered, what, timeout)

    def everyone(self, client: PyClient, sids: set[str], to: str | None = None) -> bool:
        """Whether a fetch_sockets through ``client``'s server sees exactly ``sids``."""
        return {s["sid"] for s in client.call("fetch", {"to": to})} == sids

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for js in self.js:
            js.close()
        for server in self.servers.values():
            server.stop()
