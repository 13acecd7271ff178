"""The message queues behind TLS: ``rediss://`` against a redis-server of the test's own
listening with TLS only, and ``amqps://`` against the real RabbitMQ behind a
TLS-terminating proxy of the test (``broker_proxy.py``: the shared RabbitMQ has no TLS
listener, and giving it one means changing its configuration and restarting it).

The certificates are the test's own (``redis_servers.Certificates``): a CA, a server
certificate it signed for 127.0.0.1, and another CA. The server certificate is verified
by default; the CA is given in the URL (``ssl_ca_certs=`` for redis-py, ``cafile=`` for
aio-pika); a wrong CA, or none (the system's), is a clear BrokerUnavailableError naming
the URL without its password.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from flask_realtime.adapters.amqp import AmqpAdapter
from flask_realtime.adapters.redis import from_url as redis_adapter
from flask_realtime.emitter import Emitter
from flask_realtime.exceptions import BrokerUnavailableError

from .broker_proxy import BrokerProxy
from .cluster_harness import Cluster
from .redis_servers import Certificates, PrivateRedis
from .redis_support import wait_until

pytestmark = [pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_redis(tmp_path: Path, certificates: Certificates) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path, tls=certificates)
    yield redis
    redis.stop()


@pytest.fixture
def tls_rabbitmq(amqp_url: str, certificates: Certificates) -> Iterator[str]:
    """An ``amqps://`` URL (no CA given) of the shared RabbitMQ, behind the TLS proxy."""
    parts = urlsplit(amqp_url)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(certificates.server_cert, certificates.server_key)
    proxy = BrokerProxy((parts.hostname or "127.0.0.1", parts.port or 5672), tls=server)
    userinfo = parts.netloc.rpartition("@")[0]
    yield f"amqps://{userinfo}@127.0.0.1:{proxy.port}{parts.path}"
    proxy.stop()


def _cluster_works(url: str, tmp_path: Path) -> None:
    """Two servers and an emitter on ``url``: a broadcast and an emit cross."""
    cluster = Cluster(url, tmp_path, ("a", "b"))
    try:
        pa, pb = cluster.py("a"), cluster.py("b")
        pa.call("emit", {"event": "over-tls", "args": [1]})
        wait_until(lambda: pb.got("over-tls"), "the broadcast through the broker")
        with Emitter(url, channel=cluster.channel) as emitter:
            emitter.emit("from-emitter", b"\x00")
        wait_until(lambda: pa.got("from-emitter") and pb.got("from-emitter"), "the emitter")
        assert pb.got("from-emitter") == [(b"\x00",)]
    finally:
        cluster.close()


@pytest.mark.redis
@pytest.mark.parametrize("flavour", ["classic", "sharded"])
def test_a_cluster_on_redis_over_tls(
    tls_redis: PrivateRedis, certificates: Certificates, tmp_path: Path, flavour: str
) -> None:
    url = f"{tls_redis.url}?ssl_ca_certs={certificates.ca}"
    _cluster_works(url + ("&sharded=true" if flavour == "sharded" else ""), tmp_path)


@pytest.mark.redis
@pytest.mark.parametrize("ca", ["other", "system"])
def test_redis_over_tls_verifies_the_server_certificate(
    tls_redis: PrivateRedis, certificates: Certificates, ca: str
) -> None:
    url = tls_redis.url.replace("rediss://", "rediss://:secret@")
    if ca == "other":
        url += f"?ssl_ca_certs={certificates.other_ca}"
    shown = url.replace(":secret@", ":***@")
    with pytest.raises(BrokerUnavailableError) as failed:
        asyncio.run(redis_adapter(url).open())
    for error in (str(failed.value), _emitter_error(url)):
        assert f"cannot reach the message queue at {shown}: " in error
        assert "certificate verify failed" in error
        assert "secret" not in error


@pytest.mark.amqp
def test_a_cluster_on_rabbitmq_over_tls(
    tls_rabbitmq: str, certificates: Certificates, tmp_path: Path
) -> None:
    _cluster_works(f"{tls_rabbitmq}?cafile={certificates.ca}", tmp_path)


@pytest.mark.amqp
@pytest.mark.parametrize("ca", ["other", "system"])
def test_rabbitmq_over_tls_verifies_the_server_certificate(
    tls_rabbitmq: str, certificates: Certificates, ca: str
) -> None:
    url = tls_rabbitmq + (f"?cafile={certificates.other_ca}" if ca == "other" else "")
    password = urlsplit(url).password
    with pytest.raises(BrokerUnavailableError) as failed:
        asyncio.run(AmqpAdapter(url).open())
    for error in (str(failed.value), _emitter_error(url)):
        assert "cannot reach the message queue at amqps://" in error
        assert f"127.0.0.1:{urlsplit(url).port}" in error
        assert "certificate verify failed" in error.lower()
        assert not password or f":{password}@" not in error


def _emitter_error(url: str) -> str:
    with pytest.raises(BrokerUnavailableError) as failed:
        Emitter(url)
    return str(failed.value)
