"""``message_queue``: the cluster adapter an app's server uses, resolved from the option.

The configuration edge for scale-out: a URL becomes an adapter object here, and nowhere
further down.
"""

from __future__ import annotations

import importlib

from ..adapters.urls import redact_url
from ..exceptions import ConfigurationError
from ..server import Adapter

__all__ = ["resolve_adapter"]


def resolve_adapter(message_queue: object | None, channel: str) -> Adapter | None:
    """The adapter for ``message_queue``: None (in memory), an adapter object, or a URL.

    Raises:
        ConfigurationError: a URL whose adapter is not available.
    """
    if message_queue is None:
        return None
    if isinstance(message_queue, Adapter):
        return message_queue
    if not isinstance(message_queue, str):
        raise ConfigurationError(
            f"message_queue must be a URL such as 'redis://localhost:6379' or an adapter "
            f"object, not {message_queue!r}"
        )
    lowered = message_queue.lower()
    if lowered.startswith(("amqp://", "amqps://")):
        module_name, what = "flask_realtime.adapters.amqp", "RabbitMQ"
    elif lowered.startswith(("redis+streams://", "rediss+streams://")):
        module_name, what = "flask_realtime.adapters.redis_streams", "Redis Streams"
    elif lowered.startswith(
        ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
    ):
        module_name, what = "flask_realtime.adapters.redis", "Redis"
    else:
        raise ConfigurationError(
            f"message_queue {redact_url(message_queue)!r}: only Redis (redis://, rediss://, "
            "unix://, redis+cluster://; redis+streams:// for Redis Streams) and RabbitMQ "
            "(amqp://, amqps://) URLs are supported"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ConfigurationError(
            f"message_queue needs the {what} adapter ({module_name}), which this "
            "installation does not have; leave message_queue out to run one process"
        ) from None
    from_url = getattr(module, "from_url", None)
    if from_url is None:
        raise ConfigurationError(f"{module_name} has no from_url() factory")
    adapter: Adapter = from_url(message_queue, channel=channel)
    return adapter
