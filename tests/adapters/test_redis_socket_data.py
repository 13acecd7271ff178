"""``socket_data`` across a cluster on a real Redis: what a handler stores is the socket's
``data`` in ``fetch_sockets`` on our other servers, and in ``fetchSockets()`` on a Node
socket.io 4.8 server of the same cluster (Node's ``socket.data``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_redis_cluster import Cluster
from .test_redis_node_mixed import Mixed

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]


@pytest.fixture
def two_servers(redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(redis_url, tmp_path, names=("a", "b"))
    yield cluster
    cluster.close()


@pytest.fixture
def mixed(redis_url: str, tmp_path: Path) -> Iterator[Mixed]:
    pair = Mixed(redis_url, tmp_path)
    yield pair
    pair.close()


def test_socket_data_reaches_fetch_sockets_on_another_server(two_servers: Cluster) -> None:
    pa, pb = two_servers.py("a"), two_servers.py("b")
    assert pa.call("set-data", {"user": "ann", "level": [1, 2]}) == {"user": "ann",
                                                                     "level": [1, 2]}  # fmt: skip
    found = {s["sid"]: s["data"] for s in pb.call("fetch-full", {})}
    assert found == {pa.sid: {"user": "ann", "level": [1, 2]}, pb.sid: {}}
    pa.call("set-data", {"user": "bea"})
    found = {s["sid"]: s["data"] for s in pb.call("fetch-full", {"to": pa.sid})}
    assert found == {pa.sid: {"user": "bea", "level": [1, 2]}}


def test_socket_data_is_nodes_socket_data_on_a_node_server(mixed: Mixed) -> None:
    pa = mixed.py_ours()
    pa.call("set-data", {"user": "ann"})
    by_id = {s["id"]: s for s in mixed.node.command("fetch")}
    assert by_id[pa.sid]["data"] == {"user": "ann"}
