"""adapters/local_hub.py: the relay between the workers of one machine, over a real Unix
socket, with real links (adapters/local.py ``LocalLink``) and raw sockets for bad peers."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from pathlib import Path

import pytest

from flask_realtime.adapters.local import LocalLink
from flask_realtime.adapters.local_wire import (
    ALL,
    ASSIGN,
    MAX_INDEX,
    RELAY_KINDS,
    FrameKind,
    frame,
)
from flask_realtime.exceptions import BrokerUnavailableError

from .local_support import Listening, running_hub

pytestmark = pytest.mark.timeout(30)


async def linked(path: str, index: int) -> Listening:
    listening = Listening(LocalLink(path, index))
    await listening.link.connect()
    return listening


async def until_joined(hub: object, indexes: list[int]) -> None:
    async def joined() -> None:
        while hub.workers != indexes:  # type: ignore[attr-defined]
            await asyncio.sleep(0.005)

    await asyncio.wait_for(joined(), 5)


async def test_a_frame_to_all_reaches_every_other_worker_with_the_sender_as_peer() -> None:
    async with running_hub() as hub:
        workers = [await linked(hub.path, index) for index in range(3)]
        await until_joined(hub, [0, 1, 2])
        workers[1].link.send(FrameKind.CLUSTER, ALL, b"to all")
        for other in (workers[0], workers[2]):
            assert await other.next() == (FrameKind.CLUSTER, 1, b"to all")
        # The sender did not get its own frame: the next it gets is a later marker.
        workers[0].link.send(FrameKind.CLUSTER, 1, b"marker")
        assert await workers[1].next() == (FrameKind.CLUSTER, 0, b"marker")


async def test_a_frame_to_one_worker_reaches_it_alone() -> None:
    async with running_hub() as hub:
        workers = [await linked(hub.path, index) for index in range(3)]
        await until_joined(hub, [0, 1, 2])
        workers[0].link.send(FrameKind.RESPONSE, 2, b"for two")
        assert await workers[2].next() == (FrameKind.RESPONSE, 0, b"for two")
        workers[2].link.send(FrameKind.CLUSTER, ALL, b"marker")
        assert await workers[1].next() == (FrameKind.CLUSTER, 2, b"marker")


async def test_a_request_to_an_absent_worker_is_answered_gone_at_once() -> None:
    async with running_hub() as hub:
        worker = await linked(hub.path, 0)
        await until_joined(hub, [0])
        worker.link.send(FrameKind.REQUEST, 7, b"\x00\x00\x00\x01")
        assert await worker.next() == (FrameKind.GONE, 7, b"")


async def test_a_relayed_websocket_s_frames_cross_the_hub_and_an_absent_worker_is_gone() -> None:
    async with running_hub() as hub:
        workers = [await linked(hub.path, index) for index in range(2)]
        await until_joined(hub, [0, 1])
        got: list[tuple[int, int, int, object]] = []

        class Relayed:
            def relayed(self, kind: int, peer: int, conn_id: int, value: object) -> None:
                got.append((kind, peer, conn_id, value))

            def relay_peer_gone(self, peer: int) -> None:
                got.append((0, peer, 0, "gone"))

        workers[1].link.on_relay(Relayed())
        workers[0].link.on_relay(Relayed())
        assert workers[0].link.relay(RELAY_KINDS[2], 1, 9, ["4hi", b"\x01"])
        assert workers[0].link.relay(RELAY_KINDS[3], 5, 9, [])  # nobody is worker 5
        assert await workers[0].next() == (FrameKind.GONE, 5, b"")

        async def both() -> None:
            while len(got) < 2:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(both(), 5)
        assert sorted(got, key=repr) == sorted(
            [(RELAY_KINDS[2], 0, 9, ["4hi", b"\x01"]), (0, 5, 0, "gone")], key=repr
        )


async def test_a_worker_that_leaves_is_announced_gone_to_the_others() -> None:
    async with running_hub() as hub:
        workers = [await linked(hub.path, index) for index in range(3)]
        await until_joined(hub, [0, 1, 2])
        workers[1].link.close()
        for other in (workers[0], workers[2]):
            assert await other.next() == (FrameKind.GONE, 1, b"")
        await until_joined(hub, [0, 2])


async def test_a_restarted_worker_replaces_its_old_link() -> None:
    async with running_hub() as hub:
        first = await linked(hub.path, 0)
        old = await linked(hub.path, 1)
        await until_joined(hub, [0, 1])
        new = await linked(hub.path, 1)  # before the old link is seen closing
        assert await old.next() == (FrameKind.GONE, ALL, b"")  # the hub dropped it
        assert old.link.lost
        first.link.send(FrameKind.CLUSTER, 1, b"to the new one")
        assert await new.next() == (FrameKind.CLUSTER, 0, b"to the new one")
        await until_joined(hub, [0, 1])


async def test_workers_without_an_index_get_the_lowest_free_one() -> None:
    async with running_hub() as hub:
        given = [await asyncio.to_thread(LocalLink.join, hub.path) for _ in range(3)]
        assert [link.index for link in given] == [0, 1, 2]
        listening = [Listening(link) for link in given]
        for link in given:
            await link.connect()
        given[1].close()
        assert await listening[0].next() == (FrameKind.GONE, 1, b"")
        await until_joined(hub, [0, 2])
        again = await asyncio.to_thread(LocalLink.join, hub.path)
        assert again.index == 1
        again_listening = Listening(again)
        await again.connect()
        given[2].send(FrameKind.CLUSTER, 1, b"hello, new 1")
        assert await again_listening.next() == (FrameKind.CLUSTER, 2, b"hello, new 1")
        for link in (*given, again):
            link.close()


async def test_frames_that_come_with_the_answer_to_join_are_not_lost(tmp_path: Path) -> None:
    path = str(tmp_path / "hub.sock")
    answer = frame(FrameKind.HELLO, 5) + frame(FrameKind.CLUSTER, 2, b"right after")

    async def hub_side(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            assert await reader.readexactly(7) == frame(FrameKind.HELLO, ASSIGN)
            writer.write(answer)  # one write: join() reads both frames at once
            await writer.drain()
            await reader.read()  # until the link closes
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_unix_server(hub_side, path)
    async with server:
        joined = await asyncio.to_thread(LocalLink.join, path)
        assert joined.index == 5
        listening = Listening(joined)
        await joined.connect()  # the frame read with the answer is delivered now
        assert await listening.next() == (FrameKind.CLUSTER, 2, b"right after")
        joined.close()


def test_join_without_a_hub_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerUnavailableError, match="cannot join the workers' hub at"):
        LocalLink.join(str(tmp_path / "no-hub.sock"), timeout=1)


@pytest.mark.parametrize(
    "first",
    [
        frame(FrameKind.CLUSTER, ALL, b"no hello"),  # not a hello first
        frame(FrameKind.HELLO, MAX_INDEX + 1),  # an index no sid can carry
        b"\x00\x00\x00\x00\x01\x00\x00",  # a length shorter than a header
    ],
)
async def test_a_bad_peer_is_dropped_and_harms_nobody(first: bytes) -> None:
    async with running_hub() as hub:
        good = [await linked(hub.path, index) for index in range(2)]
        await until_joined(hub, [0, 1])
        loop = asyncio.get_running_loop()
        bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        bad.setblocking(False)
        await loop.sock_connect(bad, hub.path)
        await loop.sock_sendall(bad, first)
        assert await asyncio.wait_for(loop.sock_recv(bad, 100), 5) == b""  # closed on it
        bad.close()
        good[0].link.send(FrameKind.CLUSTER, ALL, b"still fine")
        assert await good[1].next() == (FrameKind.CLUSTER, 0, b"still fine")
        assert hub.workers == [0, 1]


async def test_a_hello_asking_for_an_index_is_answered_with_one() -> None:
    async with running_hub() as hub:
        loop = asyncio.get_running_loop()
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.setblocking(False)
        await loop.sock_connect(raw, hub.path)
        await loop.sock_sendall(raw, frame(FrameKind.HELLO, ASSIGN))
        assert await asyncio.wait_for(loop.sock_recv(raw, 100), 5) == frame(FrameKind.HELLO, 0)
        raw.close()


async def test_the_socket_file_is_for_this_user_only() -> None:
    async with running_hub() as hub:
        assert stat.S_IMODE(os.stat(hub.path).st_mode) == 0o600
