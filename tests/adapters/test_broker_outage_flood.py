"""A flood of emits while the message queue is down: the publish queue caps, one line
says what was dropped, the server's own clients are served throughout, and the cluster
recovers when the broker is back.

Redis (pub/sub and streams): a redis-server of the test's own, stopped and started.
RabbitMQ: the shared broker behind a proxy of the test (``broker_proxy.py``) that is cut
(every connection closed, new ones refused) and restored: the shared RabbitMQ is never
stopped.

The flood is 25,000 broadcasts queued in one turn of the server's loop (an ``async def``
handler), more than the queue holds (10,000 by default), to a room nobody is in: they are
meant for the other servers only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .broker_proxy import BrokerProxy
from .cluster_harness import Cluster
from .redis_servers import PrivateRedis
from .redis_support import wait_until

pytestmark = [pytest.mark.timeout(120)]

FLOOD = 25_000
MAX_QUEUE = 10_000  # the adapters' default max_queue


class Outage:
    """A broker that a test may take down and bring back, and its URL."""

    def __init__(self, url: str, down: Callable[[], None], up: Callable[[], None]) -> None:
        self.url, self.down, self.up = url, down, up


@pytest.fixture(params=["redis", "redis+streams", "amqp"])
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    if request.param.startswith("redis"):
        request.applymarker(pytest.mark.redis)
        redis = PrivateRedis(tmp_path)
        url = redis.url.replace("redis://", f"{request.param}://", 1)
        yield Outage(url, redis.stop, redis.start)
        redis.stop()
    else:
        request.applymarker(pytest.mark.amqp)
        amqp_url: str = request.getfixturevalue("amqp_url")
        parts = urlsplit(amqp_url)
        proxy = BrokerProxy((parts.hostname or "127.0.0.1", parts.port or 5672))
        userinfo = parts.netloc.rpartition("@")[0]
        yield Outage(f"amqp://{userinfo}@127.0.0.1:{proxy.port}{parts.path}", proxy.down,
                     proxy.restore)  # fmt: skip
        proxy.stop()


def test_a_flood_while_the_broker_is_down_is_capped_and_counted(
    outage: Outage, tmp_path: Path
) -> None:
    cluster = Cluster(outage.url, tmp_path, ("a", "b"))
    try:
        pa, pb = cluster.py("a"), cluster.py("b")
        pa.call("emit", {"event": "before", "args": [0]})
        wait_until(lambda: pb.got("before"), "the cluster before the outage", 15)
        outage.down()
        server = cluster.servers["a"]
        # The servers notice (Redis: the reader's connection breaks; RabbitMQ: the
        # broker's connection closes).
        wait_until(lambda: "unreachable" in server.output(), "the outage noticed", 15)
        assert pa.call("flood", {"count": FLOOD, "to": "nobody-here"}, timeout=60) == FLOOD
        # The server's own clients are served during the outage.
        for n in range(3):
            assert pa.call("emit", {"event": "local", "args": [n], "to": pa.sid}) == "sent"
        wait_until(lambda: len(pa.got("local")) == 3, "local delivery during the outage")
        output = server.output()
        assert output.count(f"more than {MAX_QUEUE} messages wait to be published") == 1, output
        outage.up()
        cluster.wait_reconnected(pa, pb, "the cluster after the outage", 40)
        # The writer may publish again before the reader has resubscribed and says so.
        wait_until(lambda: "reachable again" in server.output(), "the recovery line", 15)
        output = server.output()
        assert output.count("unreachable") == 1, output
        dropped = re.findall(r"reachable again; (\d+) message\(s\)", output)
        assert len(dropped) == 1, output
        # At least what did not fit in the queue was dropped at once, and counted.
        assert int(dropped[0]) >= FLOOD - MAX_QUEUE, output
    finally:
        cluster.close()
