"""Fixtures of the adapter tests: a real Redis and RabbitMQ, or a loud failure.

Without the broker the tests fail, unless the user opted out (``FLASK_REALTIME_SKIP_REDIS=1``,
``FLASK_REALTIME_SKIP_RABBITMQ=1``); when ``REDIS_URL`` / ``AMQP_URL`` is set (CI sets both)
the broker must answer there, opted out or not."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

from support.requirements import missing

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
