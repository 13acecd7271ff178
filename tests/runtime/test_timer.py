"""runtime/engineio/timer.py: one loop.call_at drives a Deadlines heap."""

from __future__ import annotations

import asyncio

from flask_realtime.deadlines import Deadlines
from flask_realtime.engine import EngineServer
from flask_realtime.runtime.engineio.timer import DeadlineTimer


class _NoHandler:
    def on_open(self, socket: object) -> None: ...

    def on_message(self, socket: object, data: str | bytes) -> None: ...

    def on_close(self, socket: object, reason: object) -> None: ...


async def test_a_deadline_fires_on_the_loop_with_the_loop_time() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines()
    timer = DeadlineTimer(deadlines)
    fired: asyncio.Future[float] = loop.create_future()
    deadlines.call_at(loop.time() + 0.01, fired.set_result)  # adopts the running loop
    when = await asyncio.wait_for(fired, 5)
    assert when <= loop.time()
    assert timer.loop is loop


async def test_an_earlier_deadline_rearms_and_later_ones_follow() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines()
    DeadlineTimer(deadlines, loop)
    order: list[str] = []
    done: asyncio.Future[None] = loop.create_future()
    deadlines.call_at(loop.time() + 0.05, lambda now: done.set_result(None))
    deadlines.call_at(loop.time() + 0.04, lambda now: order.append("b"))
    deadlines.call_at(loop.time() + 0.01, lambda now: order.append("a"))
    await asyncio.wait_for(done, 5)
    assert order == ["a", "b"]


async def test_bind_arms_deadlines_set_before_the_loop_was_known() -> None:
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    fired: asyncio.Future[float] = loop.create_future()
    deadlines.call_at(0.0, fired.set_result)  # long past
    timer = DeadlineTimer(deadlines)
    assert timer.bind() is loop
    await asyncio.wait_for(fired, 5)


async def test_a_newer_driver_takes_the_heap_over_and_close_lets_go() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines()
    old = DeadlineTimer(deadlines, loop)
    new = DeadlineTimer(deadlines, loop)
    assert deadlines.on_earlier == new._rearm
    old.close()  # not the driver any more: leaves the hook alone
    assert deadlines.on_earlier == new._rearm
    new.close()
    assert deadlines.on_earlier is None


async def test_the_engine_timer_drives_the_engines_deadlines() -> None:
    engine = EngineServer(_NoHandler())
    timer = DeadlineTimer(engine)
    assert timer.deadlines is engine.deadlines
    assert timer.bind() is asyncio.get_running_loop()
