"""Talking to RabbitMQ with aio-pika: connecting, the exchange, and the emitter's publisher.

Shared by the cluster adapter (:mod:`flask_realtime.adapters.amqp`) and the write-only
emitter, which publishes from a thread of its own (:class:`AmqpPublisher`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import secrets
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from flask_realtime.adapters.amqp_wire import (
    CONTENT_TYPE,
    MESSAGE_TYPE,
    encode,
)
from flask_realtime.adapters.io_tasks import bounded
from flask_realtime.adapters.redis_wire import DEFAULT_CHANNEL
from flask_realtime.adapters.urls import redact_url
from flask_realtime.exceptions import BrokerUnavailableError, ConfigurationError
from flask_realtime.server.cluster_adapter import ClusterMessage

if TYPE_CHECKING:
    from aio_pika.abc import (
        AbstractChannel,
        AbstractConnection,
        AbstractExchange,
    )

__all__ = ["AmqpPublisher", "amqp_errors", "connect", "declare_exchange", "require_aio_pika"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_CONNECT_TIMEOUT = 5.0


def require_aio_pika(what: str) -> None:
    """Raise a clear :class:`ConfigurationError` when aio-pika or msgpack is missing."""
    try:
        import aio_pika  # noqa: F401
        import msgpack  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            f"{what} needs aio-pika and msgpack: pip install 'flask-realtime[amqp]'"
        ) from None


def amqp_errors() -> tuple[type[BaseException], ...]:
    """What a lost or refused broker connection raises."""
    from aio_pika.exceptions import AMQPError, ChannelInvalidStateError

    # StopAsyncIteration: aiormq's frame reader ends so when the connection closes
    # during the handshake.
    return (AMQPError, ChannelInvalidStateError, OSError, asyncio.TimeoutError, StopAsyncIteration)


async def connect(url: str, options: dict[str, Any], name: str) -> AbstractConnection:
    """A connection to ``url``, or :class:`BrokerUnavailableError` naming it."""
    import aio_pika

    settings: dict[str, Any] = {
        "timeout": _CONNECT_TIMEOUT,
        "client_properties": {"connection_name": name},
    }
    settings.update(options)
    try:
        # aio-pika's own timeout does not cover every way a handshake can stall (a peer
        # that closes during it may leave it waiting forever): bound the whole of it.
        connection: AbstractConnection = await bounded(
            aio_pika.connect(url, **settings), settings["timeout"] + 1
        )
    except amqp_errors() as exc:
        raise BrokerUnavailableError(
            f"cannot reach the message queue at {redact_url(url)}: "
            f"{type(exc).__name__}: {exc or 'timed out'}"
        ) from None
    except ValueError as exc:
        raise ConfigurationError(f"message_queue {redact_url(url)!r}: {exc}") from None
    return connection


async def declare_exchange(channel: AbstractChannel, name: str, url: str) -> AbstractExchange:
    """The fanout exchange of ``name`` (see :mod:`~flask_realtime.adapters.amqp_wire`).

    Raises:
        ConfigurationError: an exchange of that name exists with other settings.
    """
    from aio_pika import ExchangeType
    from aio_pika.exceptions import ChannelPreconditionFailed

    try:
        return await channel.declare_exchange(
            name, ExchangeType.FANOUT, durable=False, auto_delete=True
        )
    except ChannelPreconditionFailed as exc:
        raise ConfigurationError(
            f"the exchange {name!r} on {redact_url(url)} exists with other settings (another "
            f"application, or Flask-SocketIO's kombu manager, on the same channel?): choose "
            f"another channel ({exc})"
        ) from None


class AmqpPublisher:
    """Publishes cluster messages to every server, synchronously, from any thread.

    The transport of :class:`flask_realtime.emitter.Emitter` for ``amqp://`` URLs: aio-pika
    on an event loop of its own in a daemon thread; each :meth:`publish` returns once the
    broker confirmed the message (publisher confirms), so a caller's messages arrive in
    the order it published them. A lost connection is reopened on the next publish.

    Raises:
        ConfigurationError: aio-pika or msgpack is missing, the URL is not valid, or the
            exchange exists with other settings.
        BrokerUnavailableError: the broker cannot be reached (now, or by a publish).
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        amqp_options: dict[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> None:
        require_aio_pika("the emitter with an amqp:// URL")
        self.url = url
        self.channel = channel
        self.timeout = timeout
        self._options = dict(amqp_options or {})
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._lock: asyncio.Lock | None = None
        self._id_prefix = secrets.token_hex(6)
        self._ids = itertools.count()  # message ids of our own (see AmqpAdapter._connect)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="flask-realtime-amqp-emitter", daemon=True
        )
        self._thread.start()
        try:
            self._run(self._open())
        except BaseException:
            self._stop_loop()
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BrokerUnavailableError(
                f"the message queue at {redact_url(self.url)} did not answer in {self.timeout} s"
            ) from None

    async def _open(self) -> AbstractExchange:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            connection, exchange = self._connection, self._exchange
            if exchange is not None and connection is not None and not connection.is_closed:
                return exchange
            await self._drop()
            connection = await connect(
                self.url, self._options, f"flask-realtime emitter {self.channel}"
            )
            try:
                channel = await connection.channel(publisher_confirms=True)
                exchange = await declare_exchange(channel, self.channel, self.url)
            except BaseException:
                with contextlib.suppress(*amqp_errors()):
                    await connection.close()
                raise
            self._connection, self._exchange = connection, exchange
            return exchange

    async def _drop(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(*amqp_errors()):
                await connection.close()

    def publish(self, message: ClusterMessage) -> None:
        """Send ``message`` to every server; returns when the broker has it."""
        self._run(self._publish(encode(message)))

    async def _publish(self, body: bytes) -> None:
        import aio_pika

        message = aio_pika.Message(
            body,
            content_type=CONTENT_TYPE,
            type=MESSAGE_TYPE,
            message_id=f"{self._id_prefix}.{next(self._ids)}",
            delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
        )
        exchange = await self._open()
        try:
            await exchange.publish(message, "", mandatory=False)
        except amqp_errors():
            # The connection broke since the last publish: once more on a new one.
            await self._drop()
            exchange = await self._open()
            try:
                await exchange.publish(message, "", mandatory=False)
            except amqp_errors() as exc:
                raise BrokerUnavailableError(
                    f"cannot publish to the message queue at {redact_url(self.url)}: {exc}"
                ) from None

    def close(self) -> None:
        """Disconnect and stop the thread (idempotent)."""
        if self._loop.is_closed():
            return
        with contextlib.suppress(BrokerUnavailableError):
            self._run(self._drop())
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()
