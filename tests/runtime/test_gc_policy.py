"""The garbage collector's policy (``runtime/gc_policy.py``): what survives a full
collection is frozen, and the whole heap is swept once it has doubled.

The decisions are checked against a fake :mod:`gc` that records what the policy asks of
it; one test runs the real collector, to show the price of freezing (a cycle dropped
after it was frozen waits for a sweep) and that a sweep pays it."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable
from typing import Literal

import pytest

from flask_realtime.runtime import gc_policy
from flask_realtime.runtime.gc_policy import Callback, GcPolicy, install_gc_policy

pytestmark = pytest.mark.timeout(30)


PHASES: tuple[Literal["start", "stop"], ...] = ("start", "stop")


class FakeGc:
    """The :mod:`gc` functions the policy calls, recorded; ``run`` plays a collection."""

    def __init__(self) -> None:
        self.callbacks: list[Callback] = []
        self.calls: list[str] = []
        self.playing = False
        self.thresholds = (700, 10, 10)
        self.enabled = True

    def isenabled(self) -> bool:
        return self.enabled

    def collect(self, generation: int = 2) -> int:
        self.calls.append("collect" if generation == 2 else f"collect {generation}")
        if self.playing:  # a real one calls the callbacks
            for phase in PHASES:
                for callback in list(self.callbacks):
                    callback(phase, {"generation": generation, "collected": 0})
        return 0

    def freeze(self) -> None:
        self.calls.append("freeze")

    def get_threshold(self) -> tuple[int, int, int]:
        return self.thresholds

    def set_threshold(self, threshold0: int, threshold1: int = 0, threshold2: int = 0) -> None:
        self.thresholds = (threshold0, threshold1, threshold2)

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")

    def run(self, generation: int, collected: int = 0) -> list[str]:
        """One collection of ``generation``: what the policy called at its end."""
        self.calls.clear()
        for phase in PHASES:
            for callback in list(self.callbacks):
                callback(phase, {"generation": generation, "collected": collected})
        return self.calls[:]


class Clock:
    """Seconds, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Heap:
    """The heap's size the policy reads (allocated blocks), set by the test."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self) -> int:
        return self.size


def installed(
    heap: Heap, clock: Clock | None = None, later: list[object] | None = None
) -> tuple[GcPolicy, FakeGc]:
    """A policy on a fake collector; without ``clock``, sweeps need no time between them;
    what it asks to run later is appended to ``later``."""
    fake = FakeGc()
    if clock is None:
        policy = GcPolicy(interval=0, collector=fake, heap_size=heap)
    else:
        policy = GcPolicy(collector=fake, heap_size=heap, clock=clock)
    policy.install(None if later is None else later.append)
    return policy, fake


def test_start_up_is_frozen_and_then_what_survives_each_full_collection() -> None:
    heap = Heap(1000)
    policy, fake = installed(heap)
    # What start-up made, then a collection that walks nothing old (the collector's count
    # of old objects, which decides when the next full collection runs, starts at 0).
    assert fake.calls == ["collect", "freeze", "collect"]
    assert fake.run(0) == []  # young collections: nothing to do
    assert fake.run(1) == []
    for _ in range(3):
        assert fake.run(2) == ["freeze"]
    assert policy.full_collections == 3
    assert policy.sweeps == 0


def test_no_sweep_while_the_heap_holds_steady() -> None:
    heap = Heap(1000)
    policy, fake = installed(heap)
    for size in [1500, 1200, 1900, 1100, 1990] * 20:  # churn: up and down, never twice
        heap.size = size
        assert fake.run(2) == ["freeze"]
    assert policy.sweeps == 0


def test_the_heap_doubled_makes_the_next_full_collection_a_sweep() -> None:
    heap = Heap(1000)
    policy, fake = installed(heap)
    heap.size = 2000
    # Frozen, then everything unfrozen: the next full collection walks the whole heap.
    assert fake.run(2) == ["freeze", "unfreeze"]
    heap.size = 1600  # the garbage it found is gone
    assert fake.run(2, collected=400) == ["freeze"]
    assert (policy.sweeps, policy.swept) == (1, 400)
    # The next sweep is measured from the heap after this one.
    heap.size = 3100
    assert fake.run(2) == ["freeze"]
    heap.size = 3200
    assert fake.run(2) == ["freeze", "unfreeze"]


def test_sweeps_are_ten_minutes_apart_at_least() -> None:
    heap, clock = Heap(1000), Clock()
    policy, fake = installed(heap, clock)
    heap.size = 5000  # clients connecting by thousands: no sweep on the way
    clock.now = 599.0
    assert fake.run(2) == ["freeze"]
    clock.now = 600.0
    assert fake.run(2) == ["freeze", "unfreeze"]
    assert fake.run(2) == ["freeze"]
    heap.size = 10_000
    clock.now = 1100.0
    assert fake.run(2) == ["freeze"]
    clock.now = 1200.0
    assert fake.run(2) == ["freeze", "unfreeze"]
    assert policy.sweeps == 1


def test_after_a_full_collection_one_that_walks_nothing_new_is_asked_for() -> None:
    heap = Heap(1000)
    later: list[Callable[[], object]] = []
    policy, fake = installed(heap, later=later)
    fake.run(2)
    fake.run(2)
    assert len(later) == 1  # asked for once until it has run
    fake.playing = True
    fake.calls.clear()
    later.pop()()
    assert fake.calls == ["collect", "freeze"]  # its survivors frozen too...
    assert later == []  # ...and it asks for no other
    assert policy.full_collections == 2  # the app's, not ours
    fake.run(2)
    assert len(later) == 1
    later.pop()()
    heap.size = 2000
    fake.playing = False
    fake.run(2)  # decides on a sweep: the next full collection walks everything anyway
    assert later == []
    fake.run(2)  # the sweep
    assert len(later) == 1


def test_growth_is_measured_from_the_smallest_heap_since_the_last_sweep() -> None:
    heap = Heap(10_000)
    policy, fake = installed(heap)
    heap.size = 3000  # most clients left
    assert fake.run(2) == ["freeze"]
    heap.size = 6000  # twice that: frozen garbage could be half of it
    assert fake.run(2) == ["freeze", "unfreeze"]
    assert fake.run(2) == ["freeze"]
    assert policy.sweeps == 1


def test_uninstall_unfreezes_and_stops_freezing() -> None:
    heap = Heap(1000)
    policy, fake = installed(heap)
    # a full collection after every generation-1 one, which comes after 3 young ones
    assert fake.thresholds == (700, 3, 0)
    policy.uninstall()
    assert fake.thresholds == (700, 10, 10)
    assert fake.calls[-1] == "unfreeze"
    assert fake.callbacks == []
    assert fake.run(2) == []


def test_with_the_real_collector_a_cycle_dropped_once_frozen_waits_for_a_sweep() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    heap = Heap(1000)
    policy = GcPolicy(interval=0, heap_size=heap)
    policy.install()
    try:
        node = Node()
        gone = weakref.ref(node)
        gc.collect()  # a full collection: the node survives it, and is frozen
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert gone() is not None  # the price: frozen cyclic garbage is not walked
        heap.size = 2000
        gc.collect()  # the heap doubled: everything unfrozen after this one...
        gc.collect()  # ...so this one walks the whole heap
        assert gone() is None
        assert policy.sweeps == 1
    finally:
        policy.uninstall()
    assert gc.get_freeze_count() == 0


def test_only_the_main_thread_installs_the_process_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[GcPolicy] = []
    monkeypatch.setattr(gc_policy, "_installed", None)
    monkeypatch.setattr(GcPolicy, "install", lambda self, later=None, timer=None: made.append(self))
    result: list[GcPolicy | None] = []
    guest = threading.Thread(target=lambda: result.append(install_gc_policy()))
    guest.start()
    guest.join(10)
    assert result == [None]  # a server started from another thread is a guest
    first = install_gc_policy()
    assert first is not None
    assert install_gc_policy() is first  # once per process
    assert made == [first]


def test_a_closed_loop_stops_the_settling_collections_without_an_error() -> None:
    def closed(function: Callable[[], object]) -> object:
        raise RuntimeError("Event loop is closed")

    fake = FakeGc()
    policy = GcPolicy(interval=0, collector=fake, heap_size=Heap(1000))
    policy.install(closed)
    assert fake.run(2) == ["freeze"]  # no error out of the collector's callback
    assert fake.run(2) == ["freeze"]
    assert policy.full_collections == 2


class Timers:
    """A loop's ``call_later``, recorded: the test runs what is due."""

    class Handle:
        def __init__(self) -> None:
            self.cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    def __init__(self) -> None:
        self.armed: list[tuple[float, Callable[[], object], Timers.Handle]] = []

    def __call__(self, delay: float, fn: Callable[[], object]) -> Handle:
        handle = Timers.Handle()
        self.armed.append((delay, fn, handle))
        return handle

    def run_next(self) -> None:
        _, fn, handle = self.armed.pop(0)
        assert not handle.cancelled
        fn()


def test_a_full_collection_runs_every_half_second_while_installed() -> None:
    """Under churn the collector's own count of new objects stays low (as many freed as
    made) while the young generations grow: the policy runs a full collection itself every
    FULL_EVERY seconds (walking only what is not frozen), unless the collector is switched
    off, until uninstalled."""
    fake = FakeGc()
    timers = Timers()
    policy = GcPolicy(collector=fake, heap_size=Heap(1000), clock=Clock())
    policy.install(timer=timers)
    assert [delay for delay, _, _ in timers.armed] == [gc_policy.FULL_EVERY]
    fake.calls.clear()
    timers.run_next()
    assert fake.calls == ["collect"]
    assert [delay for delay, _, _ in timers.armed] == [gc_policy.FULL_EVERY]  # again
    fake.enabled = False  # gc.disable(): the app's choice is kept
    timers.run_next()
    assert fake.calls == ["collect"]
    assert len(timers.armed) == 1
    fake.enabled = True
    policy.uninstall()
    assert timers.armed[0][2].cancelled
    timers.armed[0][1]()  # a tick already due when it was cancelled does nothing
    assert fake.calls == ["collect", "unfreeze"]
    assert len(timers.armed) == 1
