"""The handler times of an invoker without a timing hook (not an app's runner): a wrapper
times each call from being handed over to its ``done``, and leaves its outcome as it was."""

from __future__ import annotations

from typing import Any

from flask_realtime.server import DefaultInvoker, HandlerCall, SocketIOServer
from flask_realtime.server.observer_swaps import _TimedInvoker

from .fakes import Recorder
from .test_invoker import make_call


class Told:
    """The one point the wrapper reports to."""

    def __init__(self) -> None:
        self.told: list[tuple[HandlerCall, float, BaseException | None]] = []

    def handler_done(self, call: HandlerCall, seconds: float, error: BaseException | None) -> None:
        self.told.append((call, seconds, error))


def test_a_wrapped_invoker_tells_each_call_its_time_then_completes_it(
    server: SocketIOServer,
) -> None:
    told = Told()
    invoker = _TimedInvoker(DefaultInvoker(), told)  # type: ignore[arg-type]
    call, outcome = make_call(server, Recorder(result="r"))
    invoker.invoke(call)
    assert [(c, e) for c, _, e in told.told] == [(call, None)]
    assert told.told[0][1] >= 0
    assert outcome.results == [("r", None)]

    error = ValueError("x")
    failing, failed = make_call(server, Recorder(raises=error))
    invoker.invoke(failing)
    assert [(c, e) for c, _, e in told.told[1:]] == [(failing, error)]
    assert failed.results == [(None, error)]


def test_an_apps_runner_is_not_wrapped_but_given_the_point(server: Any) -> None:
    # The swap picks the hook when the invoker has one (binding/runner.py's "timing").
    from flask import Flask

    from flask_realtime import SocketIO
    from flask_realtime.binding.service import service_of
    from flask_realtime.server.observers import Observer, observe

    class Timed(Observer):
        def handler_done(self, call: Any, seconds: float, error: BaseException | None) -> None:
            pass

    app = Flask("swaps_runner")
    SocketIO(app)
    service = service_of(app)
    assert service is not None
    observers = observe(service.server, service.engine)
    timed = Timed()
    observers.add(timed)
    assert service.server.invoker is service.runner
    assert service.runner.timing is not None
    observers.remove(timed)
    assert service.runner.timing is None
