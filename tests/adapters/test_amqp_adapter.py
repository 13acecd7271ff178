"""The RabbitMQ adapter and emitter in one process, on a real RabbitMQ: what a cluster test
cannot show easily (an exchange that clashes, foreign messages, a broker not there)."""

from __future__ import annotations

import asyncio
import pickle
import time
from typing import Any

import pytest
from flask import Flask

from flask_realtime import SocketIO
from flask_realtime.adapters.amqp import AmqpAdapter
from flask_realtime.binding.service import service_of
from flask_realtime.emitter import Emitter
from flask_realtime.exceptions import BrokerUnavailableError, ConfigurationError

from .redis_support import free_port, unique_channel

pytestmark = [pytest.mark.amqp, pytest.mark.timeout(30)]


async def _with_channel(url: str, work: Any) -> Any:
    import aio_pika

    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        return await work(channel)
    finally:
        await connection.close()


def test_an_exchange_declared_otherwise_is_a_clear_error(amqp_url: str) -> None:
    import aio_pika

    name = unique_channel()

    async def declare_as_kombu(channel: Any) -> None:  # kombu's fanout: not auto-deleted
        await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT, durable=False)

    async def delete(channel: Any) -> None:
        await channel.exchange_delete(name)

    asyncio.run(_with_channel(amqp_url, declare_as_kombu))
    try:
        with pytest.raises(ConfigurationError, match=rf"exchange '{name}' .* other settings"):
            asyncio.run(AmqpAdapter(amqp_url, channel=name).open())
    finally:
        asyncio.run(_with_channel(amqp_url, delete))


def test_foreign_messages_on_the_exchange_are_ignored(amqp_url: str) -> None:
    import aio_pika

    channel = unique_channel()
    apps = [Flask("a"), Flask("b")]
    sios = [SocketIO(app, message_queue=amqp_url, channel=channel) for app in apps]
    sender, receiver = (sio.test_client(app) for sio, app in zip(sios, apps, strict=True))

    async def publish_garbage(ch: Any) -> None:
        exchange = await ch.get_exchange(channel)
        for body, kind in (
            (pickle.dumps({"method": "emit"}), None),
            (b"\xc1", "flask-realtime.cluster.1"),
        ):
            await exchange.publish(aio_pika.Message(body, type=kind), "")

    asyncio.run(_with_channel(amqp_url, publish_garbage))
    deadline = time.monotonic() + 10
    received: list[dict[str, Any]] = []
    while not any(item["name"] == "after" for item in received):
        assert time.monotonic() < deadline, "the broadcast after the garbage never came"
        sios[0].emit("after", 1)
        time.sleep(0.1)
        received += receiver.get_received()
    sender.disconnect()
    receiver.disconnect()
    for app in apps:  # the embedded loops outlive the test: leave the cluster
        service = service_of(app)
        assert service is not None
        loop = service.ensure_loop().loop
        assert loop is not None
        adapter = service.server.adapter
        assert isinstance(adapter, AmqpAdapter)
        asyncio.run_coroutine_threadsafe(adapter.close(), loop).result(10)


def test_an_emitter_with_no_broker_says_where_without_the_password() -> None:
    url = f"amqp://guest:secret@127.0.0.1:{free_port()}//"
    with pytest.raises(BrokerUnavailableError) as failed:
        Emitter(url)
    assert f"127.0.0.1:{url.rsplit(':', 1)[1]}" in str(failed.value)
    assert "secret" not in str(failed.value)


def test_an_emitter_names_its_broker_without_the_password(amqp_url: str) -> None:
    with Emitter(amqp_url, channel=unique_channel()) as emitter:
        secret = ":" + amqp_url.split("@", maxsplit=1)[0].rsplit(":", 1)[1] + "@"
        assert secret not in repr(emitter)
        assert ":***@" in repr(emitter)
        emitter.emit("nobody-listens", 1)  # an exchange with no queue: fine
