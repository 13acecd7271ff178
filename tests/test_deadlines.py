"""deadlines.py: the one heap of timers, driven by numbers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from flask_realtime.deadlines import Deadline, Deadlines


class Log:
    """A callback that records the times it was called at."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, now: float) -> None:
        self.calls.append(now)


def test_the_module_is_a_pure_leaf() -> None:
    path = Path(__file__).resolve().parents[1] / "src" / "flask_realtime" / "deadlines.py"
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no imports of our own modules"
            imported.add(node.module or "")
    assert imported <= {"__future__", "heapq", "itertools", "logging", "collections.abc"}


def test_fire_runs_what_is_due_in_order_with_the_time() -> None:
    deadlines = Deadlines()
    order: list[str] = []
    deadlines.call_at(20, lambda now: order.append(f"b@{now}"))
    deadlines.call_at(10, lambda now: order.append(f"a@{now}"))
    deadlines.call_at(30, lambda now: order.append("c"))
    assert deadlines.next_deadline() == 10
    deadlines.fire(9.99)
    assert order == []
    deadlines.fire(25)
    assert order == ["a@25", "b@25"]
    assert deadlines.next_deadline() == 30
    assert len(deadlines) == 1


def test_a_fired_deadline_is_unset_until_set_again() -> None:
    deadlines = Deadlines()
    log = Log()
    deadline = deadlines.call_at(5, log)
    deadlines.fire(5)
    assert not deadline.armed
    assert deadline.when is None
    deadlines.fire(100)
    assert log.calls == [5]
    deadline.set(200)
    deadlines.fire(200)
    assert log.calls == [5, 200]


def test_cancel_stops_it_and_the_dead_entry_does_not_wake_the_driver() -> None:
    deadlines = Deadlines()
    log = Log()
    deadlines.call_at(5, log).cancel()
    later = deadlines.call_at(9, log)
    assert deadlines.next_deadline() == 9
    deadlines.fire(10)
    assert log.calls == [10]
    later.cancel()  # after firing: a no-op
    assert len(deadlines) == 0


def test_moving_later_pushes_nothing_and_fires_at_the_new_time() -> None:
    deadlines = Deadlines()
    log = Log()
    deadline = deadlines.call_at(10, log)
    for step in range(1000):  # a client that pings in a loop
        deadline.set(10 + step)
    assert deadlines.heap_size == 1
    deadlines.fire(10)  # the old entry: not due any more, put back at 1009
    assert log.calls == []
    assert deadlines.next_deadline() == 1009
    deadlines.fire(1009)
    assert log.calls == [1009]


def test_moving_earlier_pushes_and_the_superseded_entry_is_skipped() -> None:
    deadlines = Deadlines()
    log = Log()
    deadline = deadlines.call_at(10, log)
    deadline.set(4)
    assert deadlines.next_deadline() == 4
    deadlines.fire(4)
    deadlines.fire(10)
    assert log.calls == [4]


def test_a_cancelled_deadline_set_again_revives_its_entry() -> None:
    deadlines = Deadlines()
    log = Log()
    deadline = deadlines.call_at(10, log)
    for _ in range(100):
        deadline.cancel()
        deadline.set(12)
    assert deadlines.heap_size == 1
    deadlines.fire(12)
    assert log.calls == [12]


def test_on_earlier_reports_only_a_new_earliest_deadline() -> None:
    deadlines = Deadlines()
    wakeups: list[float] = []
    deadlines.on_earlier = wakeups.append
    deadlines.call_at(10, Log())
    deadlines.call_at(20, Log())
    deadlines.call_at(5, Log())
    assert wakeups == [10, 5]


def test_cancelled_entries_cannot_pile_up() -> None:
    deadlines = Deadlines()
    keep = deadlines.call_at(1e9, Log())
    for n in range(10_000):  # call() after call(), each acknowledged in time
        deadlines.call_at(60 + n, Log()).cancel()
    assert deadlines.heap_size <= 2 * len(deadlines) + 65
    assert keep.armed
    assert deadlines.next_deadline() == 1e9


def test_callbacks_may_set_deadlines_while_firing() -> None:
    deadlines = Deadlines()
    seen: list[float] = []
    deadline: Deadline

    def tick(now: float) -> None:
        seen.append(now)
        if len(seen) < 3:
            deadline.set(now + 1)

    deadline = Deadline(deadlines, tick)
    deadline.set(1)
    for now in (1, 2, 3, 4):
        deadlines.fire(now)
    assert seen == [1, 2, 3]


def test_a_failing_callback_is_logged_and_the_others_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deadlines = Deadlines()
    log = Log()

    def boom(now: float) -> None:
        raise RuntimeError("boom")

    deadlines.call_at(1, boom)
    deadlines.call_at(2, log)
    deadlines.fire(3)
    assert log.calls == [3]
    assert "boom" in caplog.text


def test_a_rebuild_while_firing_keeps_the_remaining_deadlines() -> None:
    deadlines = Deadlines()
    log = Log()
    doomed = [deadlines.call_at(50, Log()) for _ in range(200)]

    def churn(now: float) -> None:
        for deadline in doomed:
            deadline.cancel()
        for n in range(200):  # pushes enough to trigger a rebuild mid-fire
            deadlines.call_at(now + 100 + n, Log()).cancel()

    deadlines.call_at(1, churn)
    deadlines.call_at(2, log)
    deadlines.call_at(70, log)
    deadlines.fire(60)
    assert log.calls == [60]
    deadlines.fire(70)
    assert log.calls == [60, 70]
