"""``message_queue`` URLs for Redis, resolved once into what to connect to and how to publish.

The URL says everything, so that the servers and the emitters of a cluster (a Celery
task, a script) share one setting:

- ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` (TLS), ``unix:///path``:
  one Redis server.
- ``redis+cluster://[[user]:password@]host[:port][,host[:port]...][/]`` and
  ``rediss+cluster://...``: a Redis Cluster, found from any of the nodes listed (the
  ``+`` form follows python-socketio's ``redis+sentinel://``).
- ``?sharded=true``: sharded pub/sub (Redis 7: ``SPUBLISH``/``SSUBSCRIBE``), the wire
  format of Node's ``createShardedAdapter``; ``&subscription_mode=static|dynamic|
  dynamic-private`` as Node's option of that name (``dynamic`` by default).

Every other query parameter goes to redis-py as it reads them (``ssl_ca_certs``,
``ssl_cert_reqs``, ``ssl_certfile``, ``socket_timeout``, ...). TLS verifies the server's
certificate and host name by default.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask_realtime.adapters.urls import redact_url
from flask_realtime.exceptions import BrokerUnavailableError, ConfigurationError

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = [
    "REDIS_SCHEMES",
    "RedisTarget",
    "SubscriptionMode",
    "async_client",
    "check_setup",
    "client_settings",
    "is_redis_url",
    "parse_redis_url",
    "ping",
    "redis_errors",
    "sync_client",
]

REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
"""The ``message_queue`` URLs that mean Redis."""

_CONNECT_TIMEOUT = 5.0
_ANSWER_TIMEOUT = 10.0


def client_settings(options: dict[str, Any]) -> dict[str, Any]:
    """redis-py's keyword arguments: ours by default, then ``options`` (the URL's query
    parameters win over both, as redis-py reads them).

    By default a connection gives up after 5 s when Redis cannot be reached, and a command
    after 10 s without an answer (``socket_timeout``): a Redis that accepts connections
    and never answers (stopped, swapping, stuck in a long script) is then noticed like one
    that is down (a line in the log, reconnection with back-off) instead of stalling the
    publisher for ever. Reads that wait for messages (pub/sub, ``XREAD BLOCK``) wait less
    than that per call, so an idle connection never times out. TCP keepalive finds a peer
    that vanished from the network.
    """
    settings: dict[str, Any] = {
        "socket_connect_timeout": _CONNECT_TIMEOUT,
        "socket_timeout": _ANSWER_TIMEOUT,
        "socket_keepalive": True,
    }
    settings.update(options)
    return settings


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SubscriptionMode(enum.Enum):
    """Which channels a sharded server listens on (Node's ``subscriptionMode``).

    - STATIC: two per namespace (broadcasts and requests; responses to this server);
    - DYNAMIC: also one per room that is not a socket's own room, so a broadcast to one
      room reaches only the servers that have clients in it;
    - DYNAMIC_PRIVATE: also one per socket's own room (much 1:1 messaging).
    """

    STATIC = "static"
    DYNAMIC = "dynamic"
    DYNAMIC_PRIVATE = "dynamic-private"


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A Redis ``message_queue`` URL, resolved (see the module docstring).

    Attributes:
        url: the URL as redis-py reads it (our parameters and ``+cluster`` taken out).
        shown: the URL as messages show it (no password).
        cluster: a Redis Cluster.
        seeds: the other nodes listed (a cluster), as ``(host, port)``.
        sharded: sharded pub/sub.
        mode: the sharded subscription mode.
    """

    url: str
    shown: str
    cluster: bool = False
    seeds: tuple[tuple[str, int], ...] = ()
    sharded: bool = False
    mode: SubscriptionMode = SubscriptionMode.DYNAMIC


def is_redis_url(url: str) -> bool:
    """True for the URLs of :data:`REDIS_SCHEMES`."""
    return url.lower().startswith(REDIS_SCHEMES)


def _flag(name: str, value: str, shown: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"message_queue {shown!r}: {name}={value!r} is not true or false")


def parse_redis_url(url: str) -> RedisTarget:
    """Resolve a Redis ``message_queue`` URL.

    Raises:
        ConfigurationError: not a Redis URL, or a parameter of ours that is not valid.
    """
    shown = redact_url(url)
    if not is_redis_url(url):
        raise ConfigurationError(f"message_queue {shown!r} is not a Redis URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    cluster = scheme.endswith("+cluster")
    query: list[tuple[str, str]] = []
    sharded = False
    mode_given: str | None = None
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "sharded":
            sharded = _flag(key, value, shown)
        elif key == "subscription_mode":
            mode_given = value
        else:
            query.append((key, value))
    mode = SubscriptionMode.DYNAMIC
    if mode_given is not None:
        if not sharded:
            raise ConfigurationError(
                f"message_queue {shown!r}: subscription_mode is for sharded pub/sub "
                "(add sharded=true)"
            )
        try:
            mode = SubscriptionMode(mode_given)
        except ValueError:
            raise ConfigurationError(
                f"message_queue {shown!r}: subscription_mode must be static, dynamic or "
                f"dynamic-private, not {mode_given!r}"
            ) from None
    netloc = parts.netloc
    seeds: list[tuple[str, int]] = []
    if cluster:
        scheme = scheme.removesuffix("+cluster")
        userinfo, at, hosts = netloc.rpartition("@")
        first, *others = hosts.split(",")
        for other in others:
            host, _, port = other.rpartition(":") if ":" in other else (other, "", "6379")
            try:
                seeds.append((host.strip("[]"), int(port)))
            except ValueError:
                raise ConfigurationError(
                    f"message_queue {shown!r}: {other!r} is not host:port"
                ) from None
        netloc = f"{userinfo}{at}{first}"
    redis_url = urlunsplit((scheme, netloc, parts.path, urlencode(query), parts.fragment))
    return RedisTarget(redis_url, shown, cluster, tuple(seeds), sharded, mode)


def check_setup(scheme: str, channel: object) -> None:
    """What every Redis adapter checks first.

    Raises:
        ConfigurationError: redis-py or msgpack is missing (``scheme`` names the URL form
            in the message), or ``channel`` is not a non-empty string.
    """
    try:
        import msgpack  # noqa: F401
        import redis.asyncio  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            f"message_queue='{scheme}://...' needs redis-py and msgpack: "
            "pip install 'flask-realtime[redis]'"
        ) from None
    if not isinstance(channel, str) or not channel:
        raise ConfigurationError(f"channel must be a non-empty string, not {channel!r}")


def redis_errors() -> tuple[type[BaseException], ...]:
    """What a lost or refused Redis connection raises."""
    from redis.exceptions import RedisError

    return (RedisError, OSError, asyncio.TimeoutError)


def async_client(
    target: RedisTarget, options: dict[str, Any]
) -> redis.asyncio.Redis | redis.asyncio.RedisCluster:
    """An asyncio client of ``target`` (not connected yet).

    Raises:
        ConfigurationError: redis-py refuses the URL or the options.
    """
    from redis.asyncio import Redis, RedisCluster
    from redis.asyncio.cluster import ClusterNode
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    settings = client_settings({})
    try:
        if target.cluster:
            settings.update(options)
            nodes = [ClusterNode(host, port) for host, port in target.seeds]
            return RedisCluster.from_url(target.url, startup_nodes=nodes or None, **settings)
        # One immediate retry: a pooled connection that a restarted Redis closed fails
        # once; a Redis that is down fails twice at once (connection refused), and the
        # adapter's back-off takes over.
        settings["retry"] = Retry(NoBackoff(), 1)
        settings.update(options)
        return Redis.from_url(target.url, **settings)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"message_queue {target.shown!r}: {exc}") from None


def sync_client(
    target: RedisTarget, options: dict[str, Any]
) -> redis.Redis | redis.cluster.RedisCluster:
    """A blocking client of ``target`` (the emitter's).

    Raises:
        ConfigurationError: redis-py refuses the URL or the options.
    """
    from redis import Redis
    from redis.cluster import ClusterNode, RedisCluster

    settings = client_settings(options)
    try:
        if target.cluster:
            nodes = [ClusterNode(host, port) for host, port in target.seeds]  # type: ignore[no-untyped-call, unused-ignore]
            return RedisCluster.from_url(target.url, startup_nodes=nodes or None, **settings)
        return Redis.from_url(target.url, **settings)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"message_queue {target.shown!r}: {exc}") from None


async def ping(
    client: redis.asyncio.Redis | redis.asyncio.RedisCluster, target: RedisTarget
) -> None:
    """Check that Redis answers (and, sharded, that it knows ``SPUBLISH``).

    Raises:
        BrokerUnavailableError: it does not answer (the message names the URL); the
            client is closed.
        ConfigurationError: sharded pub/sub on a Redis older than 7.
    """
    from redis.exceptions import ResponseError

    try:
        await client.ping()
        if target.sharded:
            # By redis-py's own method: a cluster client sends it to every node and merges
            # the answers, which a raw execute_command("PUBSUB", "SHARDNUMSUB", ...) does not
            # parse on redis-py 8 (ValueError).
            await client.pubsub_shardnumsub("flask-realtime-check")
    except ResponseError as exc:
        await client.aclose()
        raise ConfigurationError(
            f"message_queue {target.shown!r}: sharded pub/sub needs Redis 7 or later ({exc})"
        ) from None
    except redis_errors() as exc:
        await client.aclose()
        raise BrokerUnavailableError(
            f"cannot reach the message queue at {target.shown}: {type(exc).__name__}: {exc}"
        ) from None
