"""The cyclic garbage collector's policy in a process the server owns: full collections
walk only what is new.

CPython's collector is generational. Young collections walk recent objects only and take
well under a millisecond; a full (generation 2) collection walks every object it tracks,
and the loop serves nobody meanwhile. A server holding 17,000 sessions tracks hundreds of
thousands of objects (about 27 per idle WebSocket session, besides the app), and its full
collections took 100-300 ms each (``bench/soak.py``), nearly all of it spent finding alive,
once more, the session state the previous full collection had found alive already.

The policy: when a full collection ends, what survived it is frozen (:func:`gc.freeze`
moves it to the permanent generation, which no collection walks), so the next full
collection walks only what was made since: its pause is bounded by what the process
allocates between two of them, not by how many clients are connected. CPython also waits,
before a full collection, until a quarter as many objects as the last one left have aged:
a full collection right after, which walks next to nothing, resets that count, so that
full collections come at their own pace, one after each generation-1 collection rather
than after every tenth (``FULL_THRESHOLD``), and those after every third young collection
rather than every tenth (``OLDER_THRESHOLD``), so that each walks little. And a full
collection runs at least every ``FULL_EVERY`` seconds: CPython starts a collection when
700 more objects were made than freed, and under churn, where sessions end (their objects
freed) as fast as new ones start, that count stays low while the young generations grow
to tens of thousands of objects, which the next full collection then walks at once (52-66
ms in the soak's churn; a young collection alone every half second only moved the pile to
generation 1). A frozen object is
still freed by reference counting the moment its last reference goes, and a session that
ends leaves no cycle behind (the server breaks them where a session ends), so the frozen
sessions leave the permanent generation as they end.

The price: a cycle that was alive at a full collection and dropped later (an app's own
per-client structure with back references, say) is garbage no full collection finds while
it is frozen. To bound what such garbage can cost, the policy sweeps: when the heap
(pymalloc's count of allocated blocks: a walk of its 16 KiB pools, not of the objects,
about a millisecond for 300 MB) has grown to ``growth`` times the
smallest it was since the last sweep, everything is unfrozen, so that the next full
collection walks the whole heap and frees what is garbage; what survives is frozen again.
A sweep is one long pause (the whole heap: what each full collection took before), so
there is one at most every ``interval`` (10 minutes), and none while the heap holds
steady: frozen garbage can at most double the heap (the default ``growth``) in between.

Installed by ``socketio.run()`` (its process, or each worker of ``run(workers=N)``) and by
the gunicorn worker class, when they run in the process's main thread: a server started
from another thread is a guest whose host owns the heap. ``SocketIO(gc_freeze=False)``
leaves the collector as Python sets it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol

__all__ = [
    "FULL_EVERY",
    "FULL_THRESHOLD",
    "OLDER_THRESHOLD",
    "SWEEP_GROWTH",
    "SWEEP_INTERVAL",
    "Collector",
    "GcPolicy",
    "install_gc_policy",
    "installed_gc_policy",
    "uninstall_gc_policy",
]

logger = logging.getLogger(__name__)

SWEEP_GROWTH = 2.0
"""How many times its smallest size since the last sweep the heap may grow before the next
sweep: the bound on what frozen cyclic garbage may cost, relative to the heap."""
FULL_THRESHOLD = 0
"""A full collection once more than this many young (generation 1) collections came since
the last: at the next collection after each one, not after CPython's 10 (nor the 2 first
tried here: the soak's churn then gave full collections of 20-37 ms). Each walks only what
aged since the last, so a smaller batch is a shorter pause for the same work in all."""
OLDER_THRESHOLD = 3
"""Young (generation 0) collections before a generation-1 one, and so (``FULL_THRESHOLD``)
before a full one: CPython's 10 let about 7,000 objects (10 x 700) age between two full
collections, each of which walked them all, and they refer to old objects all over the
heap, so that the walk was mostly cache misses: 3-4 ms of CPU with 3,500 sessions in the
soak's churn, 21-23 ms of wall time with 17,000 on a quiet machine. With 3, a full
collection walks about 2,100, and took half the CPU time (``bench/soak.py --gc-detail``:
churn 4.2 -> 2.2 ms, mass disconnect 17.2 -> 4.7 ms), for 2.5 times as many of them: each
object is still walked once by a full collection, so the collector's work is the same."""
FULL_EVERY = 0.5
"""Seconds between two full collections at least (see the module docstring): with 100
connections a second, a few thousand objects age meanwhile; on an idle server one walks
next to nothing (all the rest is frozen)."""
SWEEP_INTERVAL = 600.0
"""Seconds between two sweeps at least (the first counts from start-up): while clients
connect by thousands, the heap doubles every few seconds, and a sweep each time would
be one long pause after another."""

Callback = Callable[[Literal["start", "stop"], dict[str, int]], object]
"""A :data:`gc.callbacks` entry: the phase, and what the collection was and did."""


class Collector(Protocol):
    """What the policy uses of the :mod:`gc` module (a fake in the unit tests)."""

    @property
    def callbacks(self) -> list[Callback]: ...

    def collect(self, generation: int = 2) -> int: ...

    def isenabled(self) -> bool: ...

    def freeze(self) -> None: ...

    def unfreeze(self) -> None: ...

    def get_threshold(self) -> tuple[int, int, int]: ...

    def set_threshold(
        self, threshold0: int, threshold1: int = 0, threshold2: int = 0, /
    ) -> None: ...


class GcPolicy:
    """Freeze what survives each full collection; sweep when the heap has doubled, at most
    once per ``interval`` (see the module docstring).

    Args:
        growth: heap growth (a factor) since its smallest size after the last sweep that
            makes the next full collection a sweep.
        interval: seconds since the last sweep (or :meth:`install`) before another.
        collector: the :mod:`gc` module.
        heap_size: the heap's size (:func:`sys.getallocatedblocks`).
        clock: seconds, monotonic.
    """

    def __init__(
        self,
        growth: float = SWEEP_GROWTH,
        interval: float = SWEEP_INTERVAL,
        *,
        collector: Collector = gc,
        heap_size: Callable[[], int] = sys.getallocatedblocks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if growth <= 1:
            raise ValueError(f"growth must be more than 1, not {growth!r}")
        self.growth = growth
        self.interval = interval
        self._gc = collector
        self._heap_size = heap_size
        self._clock = clock
        self._floor = 0  # the heap's smallest size since the last sweep
        self._swept_at = 0.0  # when the last sweep (or install) was
        self._sweeping = False  # everything is unfrozen: the next full collection sweeps
        self._later: Callable[[Callable[[], object]], object] | None = None
        self._thresholds = (0, 0, 0)  # CPython's, put back by uninstall()
        self._settle_asked = False  # a settling collection is scheduled (see _on_gc)
        self._settling = False  # it runs
        self._timer: Callable[[float, Callable[[], object]], object] | None = None
        self._tick_handle: object = None  # the next periodic full collection's timer handle
        self.installed = False
        self.full_collections = 0
        """Full collections since :meth:`install` (read by the tests and the bench)."""
        self.sweeps = 0
        """Full collections that walked the whole heap since :meth:`install`."""
        self.swept = 0
        """Objects the sweeps collected: frozen garbage, or garbage made meanwhile."""

    def install(
        self,
        later: Callable[[Callable[[], object]], object] | None = None,
        timer: Callable[[float, Callable[[], object]], object] | None = None,
    ) -> None:
        """Collect and freeze what start-up made (the app, its modules, the server), then
        freeze what survives every full collection from now on.

        Args:
            later: runs a function soon, outside any collection, from any thread (the
                loop's ``call_soon_threadsafe``): after each full collection, one that
                walks only what is new resets the collector's count of old objects (see
                :meth:`_on_gc`). None: not done.
            timer: runs a function after a delay, on the loop (its ``call_later``): the
                full collection every ``FULL_EVERY`` seconds. None: not done.
        """
        if self.installed:
            return
        gc_ = self._gc
        gc_.collect()
        gc_.freeze()
        gc_.collect()  # walks nothing old: the collector now counts no old objects
        self._thresholds = gc_.get_threshold()
        young, older, _ = self._thresholds
        gc_.set_threshold(young, min(older, OLDER_THRESHOLD), FULL_THRESHOLD)
        self._floor = self._heap_size()
        self._swept_at = self._clock()
        self._later = later
        gc_.callbacks.append(self._on_gc)
        self.installed = True
        self._timer = timer
        if timer is not None:
            self._tick_handle = timer(FULL_EVERY, self._tick)

    def uninstall(self) -> None:
        """Stop freezing, and unfreeze: later full collections walk everything again."""
        if not self.installed:
            return
        self.installed = False
        cancel = getattr(self._tick_handle, "cancel", None)
        if cancel is not None:
            cancel()
        self._tick_handle = None
        callbacks = self._gc.callbacks
        if self._on_gc in callbacks:
            callbacks.remove(self._on_gc)
        self._gc.set_threshold(*self._thresholds)
        self._gc.unfreeze()

    def _on_gc(self, phase: Literal["start", "stop"], info: dict[str, int]) -> None:
        """A collection starts or stops (any thread: whichever allocated past the
        threshold). After a full one: freeze its survivors, decide on a sweep, and ask
        for a settling collection."""
        if phase != "stop" or info.get("generation") != 2:
            return
        gc_ = self._gc
        gc_.freeze()  # O(1): the generations' lists are spliced onto the permanent one
        if self._settling:
            return  # the collection asked for below: it walked next to nothing
        self.full_collections += 1
        size = self._heap_size()
        if self._sweeping:
            self._sweeping = False
            self.sweeps += 1
            self.swept += info.get("collected", 0)
            self._floor = size
            self._swept_at = self._clock()
            logger.debug("gc sweep: %s objects collected", info.get("collected"))
        elif size < self._floor:
            self._floor = size
        elif size >= self._floor * self.growth and self._clock() - self._swept_at >= self.interval:
            gc_.unfreeze()  # the next full collection walks the whole heap
            self._sweeping = True
            return
        # CPython starts a full collection only once a quarter as many objects as the
        # last one left have aged since: with what it left frozen, the next one would wait
        # for, then walk, a quarter of it (after a sweep, of the whole heap). A full
        # collection now, which walks next to nothing (all is frozen), resets that count:
        # the next full collection comes when the thresholds say (FULL_THRESHOLD), and
        # walks what aged meanwhile, a bounded amount.
        later = self._later
        if later is not None and not self._settle_asked:
            self._settle_asked = True
            try:
                later(self._settle)
            except RuntimeError:  # the loop is closed: the server has stopped
                self._later = None

    def _tick(self) -> None:
        """The full collection every ``FULL_EVERY`` seconds (on the loop), unless the
        collector was switched off; its end (:meth:`_on_gc`) freezes what survived."""
        if not self.installed or self._timer is None:
            return
        if self._gc.isenabled():
            self._gc.collect()
        self._tick_handle = self._timer(FULL_EVERY, self._tick)

    def _settle(self) -> None:
        """The full collection :meth:`_on_gc` asks for, run soon, outside any other."""
        self._settle_asked = False
        if not self.installed:
            return
        self._settling = True
        try:
            self._gc.collect()
        finally:
            self._settling = False


_lock = threading.Lock()
_installed: GcPolicy | None = None


def install_gc_policy() -> GcPolicy | None:
    """Install the process's policy (once: later calls return the same one) when called
    from the main thread, where the server owns the process; from another thread, the
    server is a guest, the host's heap is not ours to freeze, and nothing is done (None).
    """
    global _installed
    if threading.current_thread() is not threading.main_thread():
        return None
    with _lock:
        if _installed is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on a loop
                later, timer = None, None
            else:
                later, timer = loop.call_soon_threadsafe, loop.call_later
            _installed = GcPolicy()
            _installed.install(later, timer)
        return _installed


def uninstall_gc_policy() -> None:
    """Uninstall the process's policy, if one was installed: the server that owned the
    process has stopped (the process may go on, a test's for one)."""
    global _installed
    with _lock:
        policy, _installed = _installed, None
    if policy is not None:
        policy.uninstall()


def installed_gc_policy() -> GcPolicy | None:
    """The process's policy, if one was installed (for metrics and the bench)."""
    return _installed
