"""The admin UI's statistics (``server_stats``, binding/admin_stats.py) on a single server:
made only while an admin is logged in, at once at the login, and stopped for good when the
last admin leaves, also from inside a report."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from werkzeug.security import generate_password_hash

from e2e.live_server import LiveServer
from flask_realtime import SocketIO
from flask_realtime.binding.admin_ui import ADMIN_KEY
from support.waiting import wait_until

from .observe_support import Client, admin, make_app

pytestmark = pytest.mark.interop


class Reports:
    """An app with the admin UI whose statistics' reports are counted (``calls``), and
    ``during`` (if set) run inside each, on the loop."""

    def __init__(self, name: str, interval: float, **options: Any) -> None:
        self.interval = interval
        self.app, self.sio = make_app(name)
        self.sio.instrument(auth={"username": "admin", "password": generate_password_hash("pw")},
                            server_stats_interval=interval, **options)  # fmt: skip
        self.admin_ui = self.app.extensions[ADMIN_KEY]
        self.service = self.sio.service_for(self.app)
        self.calls: list[float] = []
        self.during: Callable[[], None] | None = None
        produce = self.admin_ui.stats

        def counted() -> dict[str, Any]:  # what the statistics' timer calls, each interval
            self.calls.append(time.monotonic())
            if self.during is not None:
                self.during()
            return produce()

        self.admin_ui.stats = counted

    @property
    def parts(self) -> tuple[Flask, SocketIO]:
        return self.app, self.sio

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        return self.service.bridge.call_and_wait(fn, timeout=5)

    def intervals_pass(self, count: int) -> None:
        """Wait until the server's clock has moved ``count`` intervals on: a running
        statistics timer would have reported meanwhile."""
        clock = self.service.server.clock
        start = self.on_loop(clock)
        wait_until(lambda: self.on_loop(clock) >= start + count * self.interval, 5,
                   f"{count} intervals of the server's clock")  # fmt: skip

    def admin_gone(self) -> None:
        wait_until(lambda: not self.on_loop(lambda: self.admin_ui.looked_at), 5, "the admin gone")


@pytest.mark.parametrize("mode", ["development", "production"])
def test_the_statistics_run_only_while_an_admin_is_logged_in(mode: str) -> None:
    """A single server with no admin UI logged in spends nothing on the statistics (no
    timer sending ``server_stats``, no traffic counted): they start with the first
    admin's login and stop when the last admin leaves."""
    reports = Reports(f"admin_stats_{mode}", 0.05, mode=mode)
    calls, service = reports.calls, reports.service
    with LiveServer(*reports.parts) as live:
        user = Client(live.url)
        try:
            assert user.sio.call("echo", "x", timeout=5) == "x"  # connected and talking
            reports.intervals_pass(5)
            assert calls == [], "statistics made with no admin logged in"
            assert reports.on_loop(lambda: service.engine.traffic) is None, "traffic counted"

            watcher = admin(live.url)
            stats = wait_until(lambda: watcher.received("server_stats", "/admin"), 5, "stats")
            assert stats[0][0]["clientsCount"] == 2
            wait_until(lambda: len(calls) >= 3, 5, "a report every interval")
            assert reports.on_loop(lambda: service.engine.traffic) is not None
            watcher.close()
            reports.admin_gone()
            made = len(calls)
            reports.intervals_pass(5)
            assert len(calls) == made, "statistics made after the last admin left"
            assert reports.on_loop(lambda: service.engine.traffic) is None

            again = admin(live.url)  # a new login starts them again
            wait_until(lambda: again.received("server_stats", "/admin"), 5, "stats again")
            again.close()
        finally:
            user.close()


def test_statistics_stop_when_the_last_admin_leaves_during_a_report() -> None:
    """The last admin's session may end inside a report (its send closes a session that
    buffered too much): the report's timer is not armed again after the statistics were
    stopped, and the next login makes one chain of reports, not two."""
    reports = Reports("admin_stats_leave_in_report", 0.05, mode="production")
    calls, admin_ui = reports.calls, reports.admin_ui
    leave_now = threading.Event()

    def leave() -> None:  # on the loop, inside the statistics' tick
        if leave_now.is_set():
            leave_now.clear()
            for sid in list(admin_ui._admins):
                reports.service.server.disconnect(sid, namespace=admin_ui.namespace)

    reports.during = leave
    with LiveServer(*reports.parts) as live:
        watcher = admin(live.url)
        try:
            wait_until(lambda: len(calls) >= 2, 5, "reports while the admin is there")
            leave_now.set()
            reports.admin_gone()
            made = len(calls)
            reports.intervals_pass(6)
            assert len(calls) == made, "reports made after the last admin left"
        finally:
            watcher.close()
        again = admin(live.url)
        try:
            wait_until(lambda: again.received("server_stats", "/admin"), 5, "stats again")
            first = len(calls)
            reports.intervals_pass(10)
            made = len(calls) - first
            assert made <= 12, f"{made} reports in 10 intervals: more than one chain"
        finally:
            again.close()


def test_the_first_admin_gets_statistics_at_once() -> None:
    """Fresh figures at the login, not one interval later (the UI lists no server until
    its first report)."""
    reports = Reports("admin_stats_at_once", 600.0)
    with LiveServer(*reports.parts) as live:
        user = Client(live.url)
        watcher = admin(live.url)
        try:
            stats = wait_until(lambda: watcher.received("server_stats", "/admin"), 5, "stats")
            assert stats[0][0]["clientsCount"] == 2
        finally:
            watcher.close()
            user.close()
