"""``message_queue``: the cluster adapter an app's server uses, resolved from the option.

The configuration edge for scale-out: a URL becomes an adapter object here, and nowhere
further down.
"""

from __future__ import annotations

import importlib

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
    if not message_queue.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(
            f"message_queue {message_queue!r}: only Redis URLs (redis://, rediss://, unix://) "
            "are supported"
        )
    try:
        module = importlib.import_module("flask_realtime.adapters.redis")
    except ImportError:
        raise ConfigurationError(
            "message_queue needs the Redis adapter (flask_realtime.adapters.redis), which "
            "this installation does not have; leave message_queue out to run one process"
        ) from None
    from_url = getattr(module, "from_url", None)
    if from_url is None:
        raise ConfigurationError("flask_realtime.adapters.redis has no from_url() factory")
    adapter: Adapter = from_url(message_queue, channel=channel)
    return adapter
