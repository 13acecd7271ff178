"""The default invoker and HandlerCall."""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import pytest

from flask_realtime.exceptions import ConnectionRefusedError
from flask_realtime.server import DefaultInvoker, HandlerCall, SocketIOServer
from flask_realtime.server.invoker import CallKind, await_handler, call_handler

from .fakes import Peer, Recorder


class Outcome:
    def __init__(self) -> None:
        self.results: list[tuple[Any, BaseException | None]] = []
        self.finished = asyncio.Event()

    def __call__(self, call: HandlerCall, result: Any, exc: BaseException | None) -> None:
        self.results.append((result, exc))
        self.finished.set()


def make_call(
    server: SocketIOServer, handler: Any, kind: CallKind = "event", args: tuple[Any, ...] = (1, 2)
) -> tuple[HandlerCall, Outcome]:
    peer = Peer(server)
    sid = peer.connect()
    socket = server.get_socket(sid)
    assert socket is not None
    outcome = Outcome()
    return HandlerCall(kind, "ev", handler, args, socket, outcome), outcome


def test_a_plain_function_runs_inline_with_the_sid_first(server: SocketIOServer) -> None:
    handler = Recorder(result="r")
    call, outcome = make_call(server, handler)
    DefaultInvoker().invoke(call)
    assert handler.calls == [(call.sid, 1, 2)]
    assert outcome.results == [("r", None)]


def test_a_callback_gets_only_its_arguments(server: SocketIOServer) -> None:
    handler = Recorder()
    call, _outcome = make_call(server, handler, kind="ack")
    DefaultInvoker().invoke(call)
    assert handler.calls == [(1, 2)]


def test_an_exception_is_reported_not_raised(server: SocketIOServer) -> None:
    error = ValueError("x")
    call, outcome = make_call(server, Recorder(raises=error))
    DefaultInvoker().invoke(call)
    assert outcome.results == [(None, error)]


async def test_a_coroutine_function_runs_as_a_task(server: SocketIOServer) -> None:
    seen: list[tuple[Any, ...]] = []

    async def handler(*args: Any) -> str:
        seen.append(args)
        await asyncio.sleep(0)
        return "done"

    call, outcome = make_call(server, handler)
    DefaultInvoker().invoke(call)
    assert outcome.results == []  # not yet: it is a task
    await outcome.finished.wait()
    assert seen == [(call.sid, 1, 2)]
    assert outcome.results == [("done", None)]


async def test_a_failing_coroutine_is_reported(server: SocketIOServer) -> None:
    error = KeyError("k")

    async def handler(*args: Any) -> None:
        raise error

    call, outcome = make_call(server, handler)
    DefaultInvoker().invoke(call)
    await outcome.finished.wait()
    assert outcome.results == [(None, error)]


async def test_a_cancelled_coroutine_is_reported_as_cancelled(server: SocketIOServer) -> None:
    running: asyncio.Future[asyncio.Task[Any]] = asyncio.get_running_loop().create_future()

    async def handler(*args: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        running.set_result(task)
        await asyncio.Event().wait()

    call, outcome = make_call(server, handler)
    DefaultInvoker().invoke(call)
    task = await running
    task.cancel()
    await outcome.finished.wait()
    [(result, exc)] = outcome.results
    assert result is None
    assert isinstance(exc, asyncio.CancelledError)
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_call_describes_itself(server: SocketIOServer) -> None:
    call, _outcome = make_call(server, Recorder())
    assert call.namespace == "/"
    assert call.event == "ev"
    assert call.ack_id is None
    assert repr(call) == f"<HandlerCall event 'ev' sid={call.sid} ns=/>"


# -- the one error-handler path (call_handler / await_handler) ----------------------------


def test_call_handler_answers_with_the_error_handler() -> None:
    seen: list[BaseException] = []

    def fail() -> None:
        raise KeyError("k")

    def on_error(exc: BaseException) -> str:
        seen.append(exc)
        return "stand-in"

    assert call_handler(fail, (), on_error) == "stand-in"
    assert isinstance(seen[0], KeyError)
    assert call_handler(lambda x: x * 2, (3,), on_error) == 6
    with pytest.raises(KeyError):
        call_handler(fail, (), None)


@pytest.mark.parametrize(
    "refusal", [ConnectionRefusedError("no"), builtins.ConnectionRefusedError("no")]
)
def test_a_refusal_is_not_an_error(refusal: BaseException) -> None:
    def refuse() -> None:
        raise refusal

    with pytest.raises(builtins.ConnectionRefusedError):
        call_handler(refuse, (), lambda exc: "never")


async def test_await_handler_awaits_an_async_error_handler() -> None:
    async def fail() -> None:
        raise ValueError("v")

    async def on_error(exc: BaseException) -> str:
        return f"handled {exc}"

    assert await await_handler(fail, (), on_error) == "handled v"
    with pytest.raises(ValueError, match="v"):
        await await_handler(fail, (), None)


async def test_the_default_invoker_awaits_the_async_error_handler_of_a_plain_handler(
    server: SocketIOServer,
) -> None:
    async def on_error(exc: BaseException) -> str:
        return "late"

    call, outcome = make_call(server, Recorder(raises=ValueError()))
    call.error_handler = on_error
    DefaultInvoker().invoke(call)
    await asyncio.wait_for(outcome.finished.wait(), 5)
    assert outcome.results == [("late", None)]
