"""A Redis that accepts connections and never answers is noticed like one that is down.

The broker is a redis-server of the test's own, frozen with SIGSTOP: the kernel still
completes TCP handshakes into its backlog, so connections seem to open, but no command is
ever answered, the case that ``socket_timeout`` (10 s by default, 2 s in the URL here to
keep the test short) is there for. Before it, the publisher waited for ever and nothing
was logged.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from flask_realtime.adapters.redis_connect import async_client, parse_redis_url, sync_client

from .cluster_harness import Cluster
from .redis_servers import PrivateRedis
from .redis_support import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]


def _freeze(redis: PrivateRedis) -> None:
    assert redis.proc is not None
    os.kill(redis.proc.pid, signal.SIGSTOP)


def _thaw(redis: PrivateRedis) -> None:
    assert redis.proc is not None
    os.kill(redis.proc.pid, signal.SIGCONT)


@pytest.mark.parametrize(
    ("scheme", "query"),
    [("redis", "socket_timeout=2"), ("redis", "socket_timeout=2&sharded=true"),
     ("redis+streams", "socket_timeout=2")],
)  # fmt: skip
def test_a_redis_that_never_answers_is_logged_and_the_cluster_recovers(
    scheme: str, query: str, tmp_path: Path
) -> None:
    redis = PrivateRedis(tmp_path)
    url = redis.url.replace("redis://", f"{scheme}://", 1)
    cluster = Cluster(f"{url}?{query}", tmp_path, ("a", "b"))
    try:
        pa, pb = cluster.py("a"), cluster.py("b")
        pa.call("emit", {"event": "before", "args": [0]})
        wait_until(lambda: pb.got("before"), "the cluster before Redis froze", 15)
        _freeze(redis)
        server = cluster.servers["a"]
        # A broadcast makes the writer publish; the frozen Redis never answers it.
        pa.call("emit", {"event": "lost", "args": [1]})
        wait_until(lambda: "unreachable" in server.output(), "the frozen Redis noticed", 20)
        # The server's own clients are served meanwhile.
        assert pa.call("emit", {"event": "local", "args": [1], "to": pa.sid}) == "sent"
        wait_until(lambda: pa.got("local") == [(1,)], "local delivery while Redis is frozen")
        _thaw(redis)
        cluster.wait_reconnected(pa, pb, "the cluster after Redis answers again", 40)
        wait_until(lambda: "reachable again" in server.output(), "the recovery line", 15)
        assert server.output().count("unreachable") == 1, server.output()
    finally:
        if redis.proc is not None and redis.proc.poll() is None:
            _thaw(redis)
        cluster.close()
        redis.stop()


@pytest.mark.parametrize("make", [async_client, sync_client])
def test_commands_time_out_by_default_and_the_url_or_options_may_say_otherwise(
    make: object,
) -> None:
    target = parse_redis_url("redis://127.0.0.1:6379/0")
    default = make(target, {})  # type: ignore[operator]
    assert default.connection_pool.connection_kwargs["socket_timeout"] == 10.0
    assert default.connection_pool.connection_kwargs["socket_keepalive"] is True
    chosen = make(target, {"socket_timeout": 30})  # type: ignore[operator]
    assert chosen.connection_pool.connection_kwargs["socket_timeout"] == 30
    in_url = make(parse_redis_url("redis://127.0.0.1:6379/0?socket_timeout=4"), {})  # type: ignore[operator]
    assert in_url.connection_pool.connection_kwargs["socket_timeout"] == 4.0
