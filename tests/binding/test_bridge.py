"""LoopBridge: calls from any thread reach the loop in order, in batches of one wake-up."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from flask_realtime.binding.bridge import DRAIN_MAX, LoopBridge
from flask_realtime.exceptions import DisconnectedError
from support.waiting import wait_until


class CountingLoop(asyncio.SelectorEventLoop):
    """An asyncio loop that counts its cross-thread wake-ups."""

    wakeups = 0

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> Any:
        self.wakeups += 1
        return super().call_soon_threadsafe(callback, *args, context=context)


@pytest.fixture
def loop() -> Iterator[CountingLoop]:
    loop = CountingLoop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def attached(loop: asyncio.AbstractEventLoop) -> LoopBridge:
    bridge = LoopBridge()
    done = threading.Event()

    def attach() -> None:
        bridge.attach(loop)
        done.set()

    loop.call_soon_threadsafe(attach)
    assert done.wait(5)
    return bridge


def test_calls_from_a_thread_run_on_the_loop_in_order(loop: CountingLoop) -> None:
    bridge = attached(loop)
    seen: list[tuple[int, int]] = []
    for i in range(50):
        bridge.call(lambda i=i: seen.append((i, threading.get_ident())))
    bridge.call_and_wait(lambda: None)
    assert [i for i, _ in seen] == list(range(50))
    assert {ident for _, ident in seen} == {bridge.call_and_wait(threading.get_ident)}


def hold_the_loop(loop: CountingLoop) -> threading.Event:
    """Keep the loop's thread busy until the returned event is set (returns once it is)."""
    busy, release = threading.Event(), threading.Event()

    def hold() -> None:
        busy.set()
        assert release.wait(5)

    loop.call_soon_threadsafe(hold)
    assert busy.wait(5)
    return release


def test_a_burst_costs_one_wake_up(loop: CountingLoop) -> None:
    bridge = attached(loop)
    release = hold_the_loop(loop)
    before = loop.wakeups
    ran: list[int] = []
    for i in range(100):
        bridge.call(ran.append, i)
    assert loop.wakeups - before == 1
    release.set()
    bridge.call_and_wait(lambda: None)
    assert ran == list(range(100))


def test_a_long_batch_is_run_a_bounded_part_per_loop_turn_in_order(loop: CountingLoop) -> None:
    """Thousands of handlers' ends at once: the loop runs DRAIN_MAX of them, then what else
    was ready (its connections), then the next ones; calls made meanwhile go after them."""
    bridge = attached(loop)
    release = hold_the_loop(loop)
    ran: list[int] = []
    seen_between: list[int] = []
    total = 3 * DRAIN_MAX + 10

    def first(i: int) -> None:
        ran.append(i)
        loop.call_soon(lambda: seen_between.append(len(ran)))  # ready: the next turn's

    bridge.call(first, 0)
    for i in range(1, total):
        bridge.call(ran.append, i)
    release.set()
    for i in range(total, total + 100):  # while the backlog is worked through, maybe
        bridge.call(ran.append, i)
    bridge.call_and_wait(lambda: None)
    assert seen_between == [DRAIN_MAX]  # the loop turned after the first DRAIN_MAX
    assert ran == list(range(total + 100))


def test_calls_from_threads_during_a_long_drain_keep_the_bound(loop: CountingLoop) -> None:
    """Worker threads keep handing calls over while a backlog drains (handlers' ends in
    a mass disconnect): each of their wake-ups adds its calls behind the backlog, and a
    loop turn still runs at most DRAIN_MAX calls (each wake-up used to start one more
    chain of DRAIN_MAX-sized parts: 256, 512, 768... a turn)."""
    bridge = attached(loop)
    release = hold_the_loop(loop)
    ran: list[Any] = []

    def from_a_thread(i: int) -> None:  # a worker's call, made while the loop drains
        thread = threading.Thread(target=bridge.call, args=(ran.append, ("late", i)))
        thread.start()
        thread.join(5)

    total = 4 * DRAIN_MAX
    for i in range(total):
        bridge.call(ran.append, i)
        if i % 32 == 0:
            bridge.call(from_a_thread, i)
    lates = total // 32
    marks: list[int] = []

    def mark() -> None:  # once per loop turn, until all ran
        marks.append(len(ran))
        if len(ran) < total + lates:
            loop.call_soon(mark)

    loop.call_soon_threadsafe(mark)
    release.set()
    wait_until(lambda: len(ran) == total + lates, 10, "every call ran")
    per_turn = [b - a for a, b in zip([0, *marks], marks, strict=False)]
    assert max(per_turn) <= DRAIN_MAX, per_turn
    assert [x for x in ran if isinstance(x, int)] == list(range(total))
    assert [x[1] for x in ran if isinstance(x, tuple)] == list(range(0, total, 32))


def test_calls_on_the_loop_thread_run_at_once(loop: CountingLoop) -> None:
    bridge = attached(loop)

    def on_loop() -> list[str]:
        order: list[str] = []
        bridge.call(order.append, "direct")
        order.append("after")
        return order

    assert bridge.call_and_wait(on_loop) == ["direct", "after"]
    assert bridge.call_and_wait(bridge.in_loop_thread) is True
    assert bridge.in_loop_thread() is False


def test_calls_before_attach_wait_for_the_loop(loop: CountingLoop) -> None:
    bridge = LoopBridge()
    assert not bridge.attached
    seen: list[int] = []
    bridge.call(seen.append, 1)
    bridge.call(seen.append, 2)
    assert seen == []
    done = threading.Event()
    loop.call_soon_threadsafe(lambda: (bridge.attach(loop), done.set()))
    assert done.wait(5)
    bridge.call_and_wait(lambda: None)
    assert seen == [1, 2]
    assert bridge.loop is loop


def test_call_and_wait_returns_and_raises(loop: CountingLoop) -> None:
    bridge = attached(loop)
    assert bridge.call_and_wait(lambda a, b: a * b, 6, 7) == 42

    def fail() -> None:
        raise KeyError("on the loop")

    with pytest.raises(KeyError, match="on the loop"):
        bridge.call_and_wait(fail)


def test_a_failing_call_is_logged_and_the_batch_goes_on(
    loop: CountingLoop, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = attached(loop)
    seen: list[str] = []

    def fail() -> None:
        raise ValueError("boom")

    bridge.call(seen.append, "before")
    bridge.call(fail)
    bridge.call(seen.append, "after")
    bridge.call_and_wait(lambda: None)
    assert seen == ["before", "after"]
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)


def test_after_detach_calls_are_dropped(loop: CountingLoop) -> None:
    bridge = attached(loop)
    bridge.detach()
    seen: list[int] = []
    bridge.call(seen.append, 1)
    with pytest.raises(DisconnectedError):
        bridge.call_and_wait(lambda: None)
    assert seen == []
    assert not bridge.attached


def test_a_closed_loop_detaches_the_bridge() -> None:
    loop = asyncio.new_event_loop()
    bridge = LoopBridge()
    bridge.attach(loop)  # attached from this thread, then "another" thread calls
    loop.close()
    ran: list[int] = []
    caller = threading.Thread(target=bridge.call, args=(ran.append, 1))
    caller.start()
    caller.join(5)
    assert not bridge.attached
    assert ran == []


def test_a_thread_waiting_for_a_call_is_told_when_the_loop_detaches(loop: CountingLoop) -> None:
    bridge = attached(loop)
    blocked, release = threading.Event(), threading.Event()
    loop.call_soon_threadsafe(lambda: (blocked.set(), release.wait(5)))  # the loop is busy
    assert blocked.wait(5)
    outcome: list[BaseException | None] = []

    def caller() -> None:
        try:
            bridge.call_and_wait(lambda: None, timeout=30)  # queued behind the busy loop
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    # The call is registered and queued before the loop stops.
    wait_until(lambda: bridge._waiters, what="the call to be queued")
    bridge.detach()  # the loop stops before running the queued call (shutdown)
    thread.join(5)
    release.set()
    assert not thread.is_alive(), "the waiting thread hangs"
    assert len(outcome) == 1
    assert isinstance(outcome[0], DisconnectedError)


def test_a_coroutine_submitted_from_a_thread_starts_after_the_calls_made_before(
    loop: CountingLoop,
) -> None:
    """``submit`` keeps the thread's order (a handler's emits, then the background task
    it starts), also behind a backlog of several parts; run_coroutine_threadsafe started
    it after the first part."""
    bridge = attached(loop)
    release = hold_the_loop(loop)
    ran: list[Any] = []

    async def task(value: str) -> str:
        ran.append(value)
        await asyncio.sleep(0)
        return value * 2

    total = 3 * DRAIN_MAX
    for i in range(total):
        bridge.call(ran.append, i)
    future = bridge.submit(task("task"))
    release.set()
    assert future.result(5) == "tasktask"
    assert ran == [*range(total), "task"]


_WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_a_submitted_coroutine_runs_in_its_own_threads_context(loop: CountingLoop) -> None:
    """The loop runs a batch in the context of the thread that woke it; a coroutine
    submitted by another thread (another client's handler) must see its own thread's
    context variables (the handler's scope, Flask's), not the waker's."""
    bridge = attached(loop)
    release = hold_the_loop(loop)
    woke = threading.Event()

    def waker() -> None:
        _WHO.set("waker")
        bridge.call(lambda: None)  # the first call of the batch: it wakes the loop
        woke.set()

    async def who() -> str:
        return _WHO.get()

    thread = threading.Thread(target=waker)
    thread.start()
    assert woke.wait(5)
    thread.join(5)
    seen: list[concurrent.futures.Future[str]] = []

    def submitter() -> None:
        _WHO.set("submitter")
        seen.append(bridge.submit(who()))

    thread = threading.Thread(target=submitter)
    thread.start()
    thread.join(5)
    release.set()
    assert seen[0].result(5) == "submitter"


def test_a_submitted_coroutine_passes_on_its_exception(loop: CountingLoop) -> None:
    bridge = attached(loop)

    async def fails() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        bridge.submit(fails()).result(5)


def test_a_coroutine_submitted_to_a_stopped_loop_fails_at_once_or_when_it_stops(
    loop: CountingLoop,
) -> None:
    bridge = attached(loop)
    release = hold_the_loop(loop)

    async def never() -> None:  # pragma: no cover - not started: the loop stops first
        raise AssertionError("started on a stopped loop")

    async def wrapper(inner: Any) -> Any:  # pragma: no cover - as start_background_task's
        return await inner

    waiting = bridge.submit(never())
    inner = never()
    wrapping = bridge.submit(wrapper(inner), inner)
    bridge.detach()
    release.set()
    with pytest.raises(DisconnectedError):
        waiting.result(5)
    with pytest.raises(DisconnectedError):
        wrapping.result(5)
    inner = never()
    with pytest.raises(DisconnectedError):
        bridge.submit(wrapper(inner), inner).result(0)
    assert inner.cr_frame is None  # closed, not left to warn "never awaited"


def test_a_call_that_escapes_with_a_base_exception_does_not_stall_the_backlog(
    loop: CountingLoop,
) -> None:
    """asyncio logs a callback's BaseException (a CancelledError, say) and goes on: so must
    the backlog, and the calls that threads make after it."""
    bridge = attached(loop)
    release = hold_the_loop(loop)
    ran: list[int] = []

    def escapes() -> None:
        raise asyncio.CancelledError

    total = 2 * DRAIN_MAX
    for i in range(total):
        bridge.call(ran.append, i)
        if i == 10:
            bridge.call(escapes)
    release.set()
    wait_until(lambda: len(ran) == total, 5, "the backlog after the escaped call")
    bridge.call(ran.append, total)  # a thread's call after it
    wait_until(lambda: len(ran) == total + 1, 5, "a later call")
    assert ran == list(range(total + 1))
