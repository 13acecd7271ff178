"""A cluster transport in memory: adapters on one event loop, wired through a bus."""

from __future__ import annotations

import asyncio

from flask_realtime.server.cluster_adapter import ClusterAdapter, ClusterMessage


class Bus:
    """Delivers what one member publishes to the others, on the next loop iteration."""

    def __init__(self) -> None:
        self.members: list[BusAdapter] = []
        self.log: list[ClusterMessage] = []

    def deliver(self, sender: BusAdapter, message: ClusterMessage, to: str | None) -> None:
        self.log.append(message)
        if sender not in self.members:
            return  # cut off: it neither hears nor is heard
        for member in list(self.members):
            if member is not sender and (to is None or member.uid == to):
                asyncio.get_running_loop().call_soon(member.on_message, message)


class BusAdapter(ClusterAdapter):
    """A :class:`ClusterAdapter` whose transport is a :class:`Bus`."""

    def __init__(self, bus: Bus, **options: float) -> None:
        super().__init__(**options)
        self.bus = bus

    async def open(self) -> None:
        self.bus.members.append(self)
        await super().open()

    async def close(self) -> None:
        await super().close()
        if self in self.bus.members:
            self.bus.members.remove(self)

    def publish(self, message: ClusterMessage) -> None:
        self.bus.deliver(self, message, None)

    def publish_response(self, requester: str, message: ClusterMessage) -> None:
        self.bus.deliver(self, message, requester)
