"""Pending acknowledgements."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flask_realtime.exceptions import DisconnectedError
from flask_realtime.server.acks import PendingAck, unwrap_ack

from .fakes import ManualClock


@pytest.mark.parametrize(
    ("args", "value"), [([], None), ([1], 1), ([[1]], [1]), ([1, "a"], (1, "a"))]
)
def test_unwrap_ack_returns_what_call_resolves_with(args: list[Any], value: Any) -> None:
    assert unwrap_ack(args) == value


async def test_resolving_settles_the_future_and_stops_the_timer() -> None:
    clock = ManualClock()
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    pending = PendingAck("ev", future=future)
    pending.timer = clock.deadlines.call_at(clock.now + 5, lambda now: None)
    pending.resolve([1, 2])
    assert future.result() == (1, 2)
    assert clock.pending == 0
    pending.fail(DisconnectedError())  # later failures change nothing
    assert future.result() == (1, 2)


async def test_failing_sets_the_exception_once() -> None:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    pending = PendingAck("ev", future=future)
    error = DisconnectedError("gone")
    pending.fail(error)
    pending.fail(DisconnectedError("again"))
    pending.resolve([1])
    assert future.exception() is error


def test_a_callback_is_dropped_when_failed() -> None:
    calls: list[Any] = []
    pending = PendingAck("ev", callback=calls.append)
    pending.fail(DisconnectedError())
    assert calls == []
    assert pending.future is None
