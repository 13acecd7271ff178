"""Fixtures of the adapter tests: a real Redis, a Redis Cluster and RabbitMQ, or a loud
failure.

Without the broker the tests fail, unless the user opted out (``FLASK_REALTIME_SKIP_REDIS=1``,
``FLASK_REALTIME_SKIP_RABBITMQ=1``); when ``REDIS_URL`` / ``AMQP_URL`` is set (CI sets both)
the broker must answer there, opted out or not."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from support.requirements import missing

from .node_mixed import MIXED_FLAVOURS, Mixed
from .redis_servers import PrivateRedisCluster

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis (``REDIS_URL``, by default 127.0.0.1:6379)."""
    if not _redis_answers(REDIS_URL):
        missing(
            "redis",
            f"Redis is not reachable at {REDIS_URL} (apt-get install redis-server)",
            required="REDIS_URL" in os.environ,
        )
    return REDIS_URL


AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The shared RabbitMQ (``AMQP_URL``, by default 127.0.0.1:5672)."""
    parts = urlsplit(AMQP_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 1):
            pass
    except OSError:
        missing(
            "rabbitmq",
            f"RabbitMQ is not reachable at {parts.hostname}:{parts.port or 5672} "
            "(apt-get install rabbitmq-server)",
            required="AMQP_URL" in os.environ,
        )
    return AMQP_URL


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedisCluster]:
    """A real three-master Redis Cluster for the whole session (tests use channels of
    their own)."""
    cluster = PrivateRedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster
    cluster.stop()


REDIS_FLAVOURS = ("redis", "sharded", "cluster", "cluster-sharded")
"""The Redis message queues the cluster tests run on: one Redis with classic or sharded
pub/sub, a Redis Cluster with classic or sharded pub/sub."""


@pytest.fixture(params=REDIS_FLAVOURS)
def redis_flavour_url(request: pytest.FixtureRequest) -> str:
    """The URL of one of :data:`REDIS_FLAVOURS` (each test runs on all of them)."""
    flavour: str = request.param
    if flavour.startswith("cluster"):
        url: str = request.getfixturevalue("redis_cluster").url
    else:
        url = request.getfixturevalue("redis_url")
    return url + ("?sharded=true" if flavour.endswith("sharded") else "")


@pytest.fixture(params=MIXED_FLAVOURS)
def mixed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mixed]:
    """The mixed cluster on each of :data:`MIXED_FLAVOURS`."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
    else:
        url = request.getfixturevalue("redis_cluster").url + "?sharded=true"
    m = Mixed(url, tmp_path)
    yield m
    m.close()


@pytest.fixture
def mixed_classic(redis_url: str, tmp_path: Path) -> Iterator[Mixed]:
    """The mixed cluster on one Redis with classic pub/sub (Node's emitter knows no other)."""
    m = Mixed(redis_url, tmp_path)
    yield m
    m.close()
