"""The SocketIO extension: background tasks and sleep."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from flask import Flask

from flask_realtime import SocketIO

# -- background tasks and sleep ------------------------------------------------------------


def test_background_thread_task_joins(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    out: list[Any] = []
    task = socketio.start_background_task(lambda x, y=0: out.append(x + y), 1, y=2)
    task.join(5)
    assert not task.is_alive()
    assert out == [3]


def test_background_async_task_runs_on_the_loop(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    loop_threads: list[str] = []

    async def work(n: int) -> None:
        await socketio.sleep(0)
        loop_threads.append(threading.current_thread().name)

    task = socketio.start_background_task(work, 1)
    task.join(5)
    assert not task.is_alive()
    assert loop_threads == ["flask-realtime-loop"]


def test_background_tasks_can_be_awaited_from_async_handlers(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    results: list[str] = []

    async def coroutine_task() -> None:
        await asyncio.sleep(0)
        results.append("coroutine")

    def thread_task() -> None:
        results.append("thread")

    @socketio.on("run")
    async def run_both() -> list[str]:
        await socketio.start_background_task(coroutine_task)
        await socketio.start_background_task(thread_task)
        return results

    client = socketio.test_client(flask_app)
    assert client.emit("run", callback=True) == ["coroutine", "thread"]


def test_background_thread_emits_to_clients(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    client = socketio.test_client(flask_app)

    def ticker() -> None:
        for i in range(3):
            socketio.emit("tick", i)
            socketio.sleep(0)

    socketio.start_background_task(ticker).join(5)
    client.emit("noop")
    assert [m["args"] for m in client.get_received()] == [[0], [1], [2]]


def test_sleep_blocks_a_thread_and_is_awaitable_on_a_loop() -> None:
    socketio = SocketIO()
    start = time.monotonic()
    socketio.sleep(0.02)
    assert time.monotonic() - start >= 0.02

    async def on_loop() -> float:
        begin = time.monotonic()
        await socketio.sleep(0.02)
        return time.monotonic() - begin

    assert asyncio.run(on_loop()) >= 0.02
