"""The RabbitMQ adapter: several server processes share their clients through AMQP 0-9-1.

``SocketIO(app, message_queue="amqp://guest:guest@rabbit:5672//")`` (also ``amqps://``)
makes each server's adapter an :class:`AmqpAdapter`, on aio-pika
(``pip install 'flask-realtime[amqp]'``). The messages are those of the cluster model
(:mod:`flask_realtime.server.cluster_adapter`), in a format of our own
(:mod:`flask_realtime.adapters.amqp_wire`: Node has no AMQP adapter to be compatible
with): one fanout exchange named by the ``channel`` option, one exclusive queue per server.

The other servers are counted by heartbeats (every 5 s; one silent for 10 s is
forgotten), since AMQP cannot count a queue's listeners the way Redis counts
subscribers; a requests waits for the servers heard of.

Lifecycle: :meth:`open` (when the server starts, on its loop) connects, declares the
exchange and this server's queue, and fails with
:class:`~flask_realtime.exceptions.BrokerUnavailableError` naming the URL (password hidden)
when it cannot. :meth:`close` says goodbye and disconnects.

Two tasks do the I/O, so the adapter's operations never block the loop:

- the **writer** publishes what the operations queued, in order, on one channel without
  publisher confirms (fire and forget, as Redis pub/sub is). The queue is bounded
  (``max_queue``); past it, and while the broker is unreachable, messages are dropped and
  counted, never buffered without bound. Local delivery never waits for the broker.
- the **keeper** waits for the connection (or its channel) to close under us; then it
  logs one warning, reconnects with exponential back-off (0.1 s doubling to 5 s),
  declares the queue again, says hello (so the others count this server again at once),
  and logs one line saying the cluster is reachable again and how many messages were
  dropped meanwhile.

Deliveries are applied as they arrive (``on_message``), on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import TYPE_CHECKING, Any

from flask_realtime.adapters.amqp_client import (
    AmqpPublisher,
    amqp_errors,
    connect,
    declare_exchange,
    require_aio_pika,
)
from flask_realtime.adapters.amqp_wire import (
    CONTENT_TYPE,
    MESSAGE_TYPE,
    QUEUE_MAX_LENGTH,
    decode,
    encode,
    queue_name,
)
from flask_realtime.adapters.broker_link import BrokerLink, backoff
from flask_realtime.adapters.io_tasks import bounded, cancelled_here, wind_down
from flask_realtime.adapters.redis_wire import DEFAULT_CHANNEL
from flask_realtime.adapters.urls import redact_url
from flask_realtime.exceptions import BrokerUnavailableError, ConfigurationError
from flask_realtime.server.cluster_adapter import ClusterAdapter, ClusterMessage, MessageType
from flask_realtime.typing import NamespaceName

if TYPE_CHECKING:
    from aio_pika.abc import (
        AbstractConnection,
        AbstractExchange,
        AbstractIncomingMessage,
    )


__all__ = [
    "AmqpAdapter",
    "AmqpPublisher",
    "amqp_errors",
    "declare_exchange",
    "from_url",
    "require_aio_pika",
]

logger = logging.getLogger(__name__)

_RECONNECT_TIMEOUT = 15.0  # seconds one reconnection attempt (connect and declare) may take


def from_url(url: str, *, channel: str = DEFAULT_CHANNEL, **options: Any) -> AmqpAdapter:
    """The adapter for ``message_queue=url`` (``binding/adapters.py`` calls this)."""
    return AmqpAdapter(url, channel=channel, **options)


class AmqpAdapter(ClusterAdapter):
    """A cluster adapter on RabbitMQ (see the module docstring).

    Args:
        url: ``amqp://user:password@host:5672/vhost`` or ``amqps://...`` (the vhost ``/``
            is written ``//`` at the end, as kombu writes it).
        channel: the exchange's name (Flask-SocketIO's ``channel`` option).
        requests_timeout: seconds a request waits for the other servers.
        heartbeat_interval: seconds between two of this server's heartbeats.
        heartbeat_timeout: seconds of silence after which another server is forgotten.
        max_queue: messages waiting to be published, at most; past it they are dropped.
        amqp_options: more keyword arguments for ``aio_pika.connect``.

    Raises:
        ConfigurationError: aio-pika or msgpack is missing, or ``channel`` is empty.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        requests_timeout: float = 5.0,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 10.0,
        max_queue: int = 10_000,
        amqp_options: dict[str, Any] | None = None,
    ) -> None:
        require_aio_pika("message_queue='amqp://...'")
        if not isinstance(channel, str) or not channel:
            raise ConfigurationError(f"channel must be a non-empty string, not {channel!r}")
        super().__init__(
            requests_timeout=requests_timeout,
            heartbeat_interval=heartbeat_interval,
            heartbeat_timeout=heartbeat_timeout,
        )
        self.url = url
        self.channel = channel
        self._link: BrokerLink[tuple[str, str, bytes]] = BrokerLink(url, max_queue)
        self._amqp_options = dict(amqp_options or {})
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._direct: AbstractExchange | None = None  # the default exchange: responses
        self._broken: asyncio.Event | None = None
        self._why = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._ids = itertools.count()

    @property
    def queue_name(self) -> str:
        """This server's queue in the broker."""
        return queue_name(self.channel, self.uid)

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, declare the exchange and this server's queue, and start the tasks.

        Raises:
            BrokerUnavailableError: the broker does not answer at the URL.
            ConfigurationError: the URL is not valid, or the exchange exists with other
                settings.
        """
        self._broken = asyncio.Event()
        self._link.start()
        await self._connect()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._write(), name="flask-realtime-amqp-writer"),
            loop.create_task(self._keep(), name="flask-realtime-amqp-keeper"),
        ]
        await super().open()

    async def close(self) -> None:
        """Say goodbye, publish what is queued (briefly), and disconnect."""
        await super().close()
        link = self._link
        link.closing = True
        await wind_down(link.queue, self._tasks, amqp_errors(), flush=not link.down)
        self._tasks = []
        await self._disconnect()

    async def _connect(self) -> None:
        """Connect and declare; on failure nothing is left open."""
        connection = await connect(
            self.url, self._amqp_options, f"flask-realtime {self.channel} {self.uid}"
        )
        try:
            channel = await connection.channel(publisher_confirms=False)
            exchange = await declare_exchange(channel, self.channel, self.url)
            queue = await channel.declare_queue(
                self.queue_name,
                exclusive=True,
                auto_delete=True,
                arguments={"x-max-length": QUEUE_MAX_LENGTH},
            )
            await queue.bind(exchange)
            # Our own tag and message ids: aiormq would draw them from the global `random`
            # state, which is the application's.
            await queue.consume(self._deliver, no_ack=True, consumer_tag=self.queue_name)
        except BaseException:
            with contextlib.suppress(*amqp_errors()):
                await connection.close()
            raise

        def closed(sender: Any, exc: BaseException | None = None, *_: Any) -> None:
            if self._connection is connection:  # not one we closed or replaced
                self._break(exc)

        connection.close_callbacks.add(closed)
        channel.close_callbacks.add(closed)
        self._connection = connection
        self._exchange = exchange
        self._direct = channel.default_exchange

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        self._exchange = self._direct = None
        if connection is not None:
            try:
                await connection.close()
            except asyncio.CancelledError:
                if cancelled_here():
                    raise
            except amqp_errors():
                pass

    def _break(self, exc: BaseException | None) -> None:
        """The connection or its channel closed under us: the keeper reconnects."""
        if self._link.closing or self._broken is None or self._broken.is_set():
            return
        self._why = f"{type(exc).__name__}: {exc}" if exc is not None else "connection closed"
        self._broken.set()

    # -- ClusterAdapter: the transport ---------------------------------------------------

    def publish(self, message: ClusterMessage) -> None:
        """Queue ``message`` for the writer, to every server (the fanout exchange)."""
        self._link.enqueue(("", "", encode(message)))

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        """Queue a response for the writer, to the requester's own queue."""
        self._link.enqueue(("direct", queue_name(self.channel, requester), encode(message)))

    async def peer_count(self, namespace: NamespaceName) -> int:
        """The servers heard of lately; none while the broker is unreachable (a request
        then answers at once with this server's part)."""
        if self._link.down or self._connection is None:
            return 0
        return await super().peer_count(namespace)

    # -- deliveries ------------------------------------------------------------------------

    async def _deliver(self, delivery: AbstractIncomingMessage) -> None:
        if delivery.app_id == self.uid:
            return  # our own broadcast, back from the fanout
        if delivery.type != MESSAGE_TYPE:
            logger.debug("ignoring a message of type %r on exchange %s", delivery.type,
                         self.channel)  # fmt: skip
            return
        try:
            message = decode(delivery.body)
        except Exception:
            logger.warning("ignoring a malformed message on exchange %s", self.channel,
                           exc_info=logger.isEnabledFor(logging.DEBUG))  # fmt: skip
            return
        if message is not None:
            self.on_message(message)

    # -- the writer ------------------------------------------------------------------------

    async def _write(self) -> None:
        import aio_pika

        link = self._link
        queue = link.queue
        if queue is None:
            return
        errors = amqp_errors()
        persistent = aio_pika.DeliveryMode.NOT_PERSISTENT
        while True:
            where, routing_key, body = await queue.get()
            link.took()
            exchange = self._direct if where else self._exchange
            if exchange is None or link.down:
                link.drop()
                continue
            message = aio_pika.Message(
                body,
                content_type=CONTENT_TYPE,
                type=MESSAGE_TYPE,
                app_id=self.uid,
                message_id=f"{self.uid}.{next(self._ids)}",
                delivery_mode=persistent,
            )
            try:
                await exchange.publish(message, routing_key, mandatory=False)
            except asyncio.CancelledError as exc:
                if cancelled_here():
                    raise
                link.drop()
                self._break(exc)
            except errors as exc:
                link.drop()
                self._break(exc)

    # -- the keeper: reconnect ---------------------------------------------------------------

    async def _keep(self) -> None:
        broken = self._broken
        if broken is None:
            return
        errors: tuple[type[BaseException], ...] = (*amqp_errors(), BrokerUnavailableError)
        link = self._link
        while not link.closing:
            await broken.wait()
            if link.closing:
                return
            link.lost(self._why)
            await self._disconnect()
            for delay in backoff():
                if link.closing:
                    return
                await asyncio.sleep(delay)
                try:
                    # Bounded: a broker that stalls mid-way must not stop the retries.
                    await bounded(self._connect(), _RECONNECT_TIMEOUT)
                except asyncio.CancelledError:
                    raise
                except errors as exc:
                    logger.debug("reconnecting to %s: %s", redact_url(self.url), exc)
                    continue
                except ConfigurationError as exc:
                    logger.warning("reconnecting to %s: %s", redact_url(self.url), exc)
                    continue
                except Exception as exc:  # a client library's surprise must not end the retries
                    logger.warning("reconnecting to %s: %s: %s", redact_url(self.url),
                                   type(exc).__name__, exc,
                                   exc_info=logger.isEnabledFor(logging.DEBUG))  # fmt: skip
                    continue
                broken.clear()
                link.recovered()
                # Hello again: the others answer, and count this server again at once.
                self.publish(ClusterMessage(MessageType.INITIAL_HEARTBEAT, self.uid, "/"))
                break


# -- the emitter's transport -----------------------------------------------------------------
