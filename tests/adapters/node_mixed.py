"""The mixed cluster of the Node interop tests: one of our servers and one Node socket.io
4.8 server with ``@socket.io/redis-adapter`` on the same Redis and key, clients on both.

Our server is ``cluster_app.py`` (driven by its clients' events), Node's is
``tests/interop/js/redis_node_server.mjs`` (driven by commands on its stdin); both get
the same URL, so one Redis with classic pub/sub and a Redis Cluster with sharded pub/sub
(Node's ``createShardedAdapter``) are both covered. A "marker" broadcast sent after an
event that must not arrive proves it did not: Redis delivers one publisher's messages on
one channel to a subscriber in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask_realtime.adapters.redis_connect import parse_redis_url, sync_client

from .redis_support import (
    JsClients,
    NodeServer,
    PyClient,
    ServerProcess,
    unique_channel,
    wait_until,
)

MIXED_FLAVOURS = ("redis", "cluster-sharded")
"""One Redis with classic pub/sub; a Redis Cluster with sharded pub/sub (dynamic mode)."""


class Mixed:
    """Our server "a" and the Node server on one Redis and one key, and their clients."""

    def __init__(self, redis_url: str, tmp: Path) -> None:
        self.redis_url = redis_url
        self.target = parse_redis_url(redis_url)
        self.channel = unique_channel()
        self.clients: list[PyClient] = []
        self.js: list[JsClients] = []
        self.ours = ServerProcess("a", redis_url, self.channel, tmp)
        try:
            self.node = NodeServer(redis_url, self.channel, tmp)
        except BaseException:
            self.ours.stop()
            raise
        try:
            # Both subscribed: each counts the other (PUBSUB NUMSUB of the request
            # channel, SHARDNUMSUB of the namespace's channel when sharded).
            wait_until(lambda: self.node.command("serverCount") == 2, "both servers counted")
        except BaseException:
            self.close()
            raise

    def py_ours(self, answer: Any = None) -> PyClient:
        return self._py(self.ours.url, answer)

    def py_node(self, answer: Any = None) -> PyClient:
        return self._py(self.node.url, answer)

    def _py(self, url: str, answer: Any) -> PyClient:
        client = PyClient(url, answer)
        self.clients.append(client)
        return client

    def js_clients(self, specs: list[tuple[str, str, bool]]) -> JsClients:
        """``(id, "ours" | "node", answers)`` each."""
        urls = {"ours": self.ours.url, "node": self.node.url}
        clients = JsClients([
            {"id": ident, "url": urls[where], "answer": answer} for ident, where, answer in specs
        ])  # fmt: skip
        self.js.append(clients)
        return clients

    def room_ready(self, room: str, servers: int) -> None:
        """Sharded, dynamic mode: wait until ``servers`` listen on ``room``'s own channel.

        A server subscribes to a room's channel when the room gets its first member
        there, a moment after the join (Node's adapter too); a broadcast to that room
        published before it misses that server. Classic pub/sub: nothing to wait for.
        """
        if not self.target.sharded:
            return
        client = sync_client(self.target, {})
        channel = f"{self.channel}#/#{room}#"
        options = {"target_nodes": "all"} if self.target.cluster else {}

        def listening() -> bool:
            answer = client.execute_command("PUBSUB SHARDNUMSUB", channel, **options)
            return sum(int(count) for _, count in answer) == servers

        try:
            wait_until(listening, f"{servers} servers listening on room {room!r}")
        finally:
            client.close()

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for js in self.js:
            js.close()
        self.node.stop()
        self.ours.stop()


def marker(mixed: Mixed, n: int, seen: list[Any]) -> None:
    """Broadcast ``mark n`` from both servers and wait until every observer saw both."""
    mixed.node.command("emit", event="mark", args=["node", n])
    mixed.clients[0].call("emit", {"event": "mark", "args": ["ours", n]})
    for check in seen:
        wait_until(lambda c=check: c(("node", n)) and c(("ours", n)), f"mark {n}")


def py_seen(client: PyClient) -> Any:
    return lambda mark: mark in client.got("mark")


def js_seen(js: JsClients, ident: str) -> Any:
    return lambda mark: list(mark) in js.got(ident, "mark")


def node_rooms(mixed: Mixed, sid: str) -> list[str]:
    found = [s for s in mixed.node.command("fetch") if s["id"] == sid]
    return list(found[0]["rooms"]) if found else []


def our_rooms(client: PyClient, sid: str) -> list[str]:
    found = [s for s in client.call("fetch", {}) if s["sid"] == sid]
    return list(found[0]["rooms"]) if found else []
