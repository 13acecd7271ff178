"""The demo apps of ``examples/`` on one server, as ``examples/demo.py`` puts them together.

``create_demo_app()`` builds what ``demo.create_app()`` builds (the landing page, the echo,
live and chat blueprints and their handlers) from the same modules, with two differences
that the tests need: the live stream's interval is a parameter (``live_app.register``
takes it), and the ``SocketIO`` object is a :class:`DemoSocketIO`, which can end the live
stream's producer thread (the demo's producer loops for the life of the process).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from flask import Flask, render_template

from flask_realtime import SocketIO
from flask_realtime.binding.tasks import BackgroundTask

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def examples_module(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as ``demo.py`` does (the folder on ``sys.path``)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(name)


class _Stopped(Exception):
    """Raised by :meth:`DemoSocketIO.sleep` in a background thread once tasks must end."""


class DemoSocketIO(SocketIO):
    """A ``SocketIO`` whose ``def`` background tasks end on :meth:`stop_tasks`.

    A background thread ends at its next ``socketio.sleep()`` after ``stop_tasks()``
    (which wakes it at once): the sleep raises an exception of ours, which the task's
    wrapper swallows.
    """

    def __init__(self, app: Flask, **options: Any) -> None:
        super().__init__(app, **options)
        self._stopping = threading.Event()
        self._tasks: list[BackgroundTask] = []

    def start_background_task(
        self, target: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> BackgroundTask:
        if inspect.iscoroutinefunction(target):
            return super().start_background_task(target, *args, **kwargs)

        def run() -> None:
            try:
                target(*args, **kwargs)
            except _Stopped:
                pass

        task = super().start_background_task(run)
        self._tasks.append(task)
        return task

    def sleep(self, seconds: float = 0) -> Awaitable[None]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a thread: sleep here, unless told to stop
            if self._stopping.wait(seconds):
                raise _Stopped from None
            return super().sleep(0)
        return super().sleep(seconds)

    def stop_tasks(self, timeout: float = 5.0) -> None:
        """End the ``def`` background tasks and wait for them (at most ``timeout``).

        Raises:
            AssertionError: a task did not end in time.
        """
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for task in self._tasks:
            task.join(max(0.0, deadline - time.monotonic()))
        assert not any(task.is_alive() for task in self._tasks), "a background task runs on"


def create_demo_app(*, live_interval: float = 1.0, **options: Any) -> tuple[Flask, DemoSocketIO]:
    """The demos' app, as ``demo.create_app()``; ``options`` go to ``SocketIO``."""
    echo_app = examples_module("echo_app")
    live_app = examples_module("live_app")
    chat_app = examples_module("chat_app")
    app = Flask("demo", root_path=str(EXAMPLES))
    for module in (echo_app, live_app, chat_app):
        app.register_blueprint(module.blueprint)

    @app.route("/")
    def landing() -> str:
        return render_template("landing.html")

    socketio = DemoSocketIO(app, **options)
    echo_app.register(socketio)
    live_app.register(socketio, interval=live_interval)
    chat_app.register(socketio)
    return app, socketio
