"""runtime/multiprocess/routing.py: which worker owns a sid, and requests for a session of
another worker served by that worker, over a real hub with real engines (two "workers" on
one loop). A bad or unknown sid gets Engine.IO's 400 "Session ID unknown", never a crash
and never a long wait."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from adapters.local_support import Listening, running_hub
from flask_realtime.adapters.local import LocalLink
from flask_realtime.adapters.local_hub import LocalHub
from flask_realtime.adapters.local_wire import FrameKind
from flask_realtime.engine import EngineOptions, EngineResponse, EngineServer
from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.runtime.engineio.endpoint import EngineIOEndpoint
from flask_realtime.runtime.engineio.timer import DeadlineTimer
from flask_realtime.runtime.http.messages import Request
from flask_realtime.runtime.multiprocess.handoff import ConnectionHandoff
from flask_realtime.runtime.multiprocess.routing import SessionRouter, owner_of

pytestmark = pytest.mark.timeout(30)

UNKNOWN = {"code": 1, "message": "Session ID unknown"}


@pytest.mark.parametrize(
    ("sid", "owner"),
    [
        ("0.abc", 0),
        ("2.abc", 2),
        ("9999.abc", 9999),
        ("999999999.abc", 999999999),  # a number of a server on another machine
        ("0.", 0),
        (None, None),
        ("", None),
        ("abc", None),  # no index: a session of a server without workers
        (".abc", None),
        ("x.abc", None),
        ("-1.abc", None),
        ("+1.abc", None),
        ("1000000000.abc", None),  # more digits than a number has
        ("١.abc", None),  # a digit, but not an ASCII one  # noqa: RUF001
    ],
)
def test_the_owner_is_the_index_a_sid_starts_with(sid: str | None, owner: int | None) -> None:
    assert owner_of(sid) == owner


class Echo:
    """An engine handler that sends every message back."""

    def on_open(self, socket: object) -> None: ...

    def on_message(self, socket: object, data: str | bytes) -> None:
        socket.send(OutgoingMessage(data))  # type: ignore[attr-defined]

    def on_close(self, socket: object, reason: object) -> None: ...


@dataclass
class Worker:
    engine: EngineServer
    link: LocalLink
    router: SessionRouter

    async def request(
        self, method: str, sid: str | None = None, body: bytes = b""
    ) -> EngineResponse:
        query = "EIO=4&transport=polling" + (f"&sid={sid}" if sid is not None else "")
        headers = [("host", "localhost")]
        remote = ("127.0.0.1", 5000)
        request = Request(method, "/socket.io/", query, headers, body, remote, "http", "1.1", True)
        answer = self.router.handle(request)  # the response, or an awaitable of it
        return answer if isinstance(answer, EngineResponse) else await answer

    async def handshake(self) -> str:
        response = await self.request("GET")
        assert response.status == 200, response.body
        sid: str = json.loads(response.body[1:])["sid"]
        return sid


def make_worker(hub: LocalHub, directory: str, index: int) -> Worker:
    engine = EngineServer(Echo(), EngineOptions(ping_interval=20, ping_timeout=20))
    engine.sid_prefix = f"{index}."
    endpoint = EngineIOEndpoint(engine, timer=DeadlineTimer(engine))
    link = LocalLink(hub.path, index)
    router = SessionRouter(endpoint, link, ConnectionHandoff(directory, index), tls=False)
    return Worker(engine, link, router)


@asynccontextmanager
async def two_workers() -> AsyncIterator[tuple[LocalHub, Worker, Worker]]:
    async with running_hub() as hub:
        with tempfile.TemporaryDirectory(prefix="routing-test-") as directory:
            workers = [make_worker(hub, directory, index) for index in range(2)]
            for worker in workers:
                await worker.link.connect()
            while hub.workers != [0, 1]:
                await asyncio.sleep(0.005)
            try:
                yield hub, workers[0], workers[1]
            finally:
                for worker in workers:
                    await worker.router.shutdown()
                    worker.engine.close_all()
                    worker.link.close()


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait (polling the loop) until ``condition()``; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


def assert_unknown(response: EngineResponse) -> None:
    assert response.status == 400
    assert json.loads(response.body) == UNKNOWN


async def test_a_handshake_makes_a_session_of_the_worker_that_answered_it() -> None:
    async with two_workers() as (_, zero, one):
        assert (await zero.handshake()).startswith("0.")
        assert (await one.handshake()).startswith("1.")


async def test_polling_on_another_worker_reaches_the_owner() -> None:
    async with two_workers() as (_, zero, one):
        sid = await zero.handshake()
        posted = await one.request("POST", sid, b"4hello")
        assert (posted.status, posted.body) == (200, b"ok")
        polled = await one.request("GET", sid)
        assert (polled.status, polled.body) == (200, b"4hello")
        assert sid in zero.engine.sessions
        assert one.engine.sessions == {}


async def test_a_parked_poll_on_another_worker_is_answered_when_the_owner_has_data() -> None:
    async with two_workers() as (_, zero, one):
        sid = await zero.handshake()
        parked = asyncio.ensure_future(one.request("GET", sid))
        await asyncio.sleep(0)  # not answered: nothing to read yet
        assert not parked.done()
        assert (await zero.request("POST", sid, b"4late")).status == 200
        polled = await asyncio.wait_for(parked, 5)
        assert polled.body == b"4late"


async def test_a_client_leaving_a_parked_forwarded_poll_is_heard_by_the_owner() -> None:
    async with two_workers() as (_, zero, one):
        sid = await zero.handshake()
        parked = asyncio.ensure_future(one.request("GET", sid))
        while not zero.router._serving:  # the owner holds the forwarded poll
            await asyncio.sleep(0.005)
        parked.cancel()  # how our server says that the client left
        # The owner's session learns it as if its own client had left: as in Node's
        # engine.io, a poll closed prematurely ends the session.
        await until(lambda: sid not in zero.engine.sessions, "the session to end")
        # The forwarded request's task ends with the session, and leaves the table in its
        # done callback, a loop turn or so later.
        await until(lambda: not zero.router._serving, "the forwarded poll to be done")
        assert_unknown(await zero.request("GET", sid))


@pytest.mark.parametrize("sid", ["abc", "x.abc", "99999.abc", "1000000000.abc", "0.", "1.unknown"])
async def test_a_bad_or_unknown_sid_is_session_id_unknown(sid: str) -> None:
    async with two_workers() as (_, zero, _one):
        assert_unknown(await zero.request("GET", sid))
        assert_unknown(await zero.request("POST", sid, b"4x"))


async def test_a_sid_of_a_worker_that_does_not_exist_is_answered_at_once() -> None:
    async with two_workers() as (_, zero, _one):
        response = await asyncio.wait_for(zero.request("GET", "7.abc"), 5)
        assert_unknown(response)
        assert zero.router._waiting == {}


async def test_without_the_hub_a_forwarded_request_is_answered_at_once() -> None:
    async with two_workers() as (_, zero, one):
        sid = await one.handshake()
        zero.link.close()
        while not zero.link.lost:
            await asyncio.sleep(0.005)
        assert_unknown(await asyncio.wait_for(zero.request("GET", sid), 5))


async def test_a_poll_waiting_for_an_owner_that_dies_ends_at_once() -> None:
    async with two_workers() as (_, zero, one):
        sid = await zero.handshake()
        parked = asyncio.ensure_future(one.request("GET", sid))
        while not zero.router._serving:
            await asyncio.sleep(0.005)
        zero.link.close()  # as a dying worker's link closes
        assert_unknown(await asyncio.wait_for(parked, 5))


async def test_a_malformed_forwarded_request_is_answered_as_unknown() -> None:
    async with two_workers() as (hub, _zero, _one):
        stranger = Listening(LocalLink(hub.path, 5), (FrameKind.RESPONSE,))
        await stranger.link.connect()
        stranger.link.request(0, 77, ["not", "a", "request"])
        stranger.link.request(0, 78, {"method": "GET"})  # fields missing
        for expected in (77, 78):
            kind, peer, body = await stranger.next()
            assert (kind, peer) == (FrameKind.RESPONSE, 0)
            assert body[:4] == expected.to_bytes(4, "big")
        stranger.link.close()
