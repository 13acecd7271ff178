"""Timers: injected ones, or the running loop's."""

from __future__ import annotations

import asyncio

from flask_realtime.server.timers import LoopTimers

from .fakes import ManualClock


async def test_without_injection_the_running_loop_is_used() -> None:
    timers = LoopTimers()
    loop = asyncio.get_running_loop()
    fired: asyncio.Future[float] = loop.create_future()
    before = loop.time()
    timers.call_later(0, lambda: fired.set_result(timers.time()))
    when = await fired
    assert before <= when <= loop.time()


async def test_a_loop_timer_can_be_cancelled() -> None:
    timers = LoopTimers()
    loop = asyncio.get_running_loop()
    fired: list[int] = []
    handle = timers.call_later(0, lambda: fired.append(1))
    handle.cancel()
    after: asyncio.Future[None] = loop.create_future()
    loop.call_soon(after.set_result, None)
    await after
    await asyncio.sleep(0)
    assert fired == []


def test_injected_timers_are_used() -> None:
    clock = ManualClock(now=50.0)
    timers = LoopTimers()
    timers.attach(clock.time, clock.call_later)
    fired: list[float] = []
    timers.call_later(2, lambda: fired.append(timers.time()))
    assert timers.time() == 50.0
    clock.advance(1)
    assert fired == []
    clock.advance(1)
    assert fired == [52.0]
