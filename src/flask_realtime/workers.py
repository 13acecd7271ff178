"""A bounded pool of worker threads for ``def`` handlers.

Leaner than :class:`concurrent.futures.ThreadPoolExecutor` for this one job: a job is a
callable taking no arguments and returning nothing (it reports its own outcome through the
:class:`~flask_realtime.bridge.LoopBridge`), so there is no future per job. Threads are
started on demand, up to the bound, and end after ``idle_timeout`` seconds without work,
so an app that is idle, or gone, holds none.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from .exceptions import ConfigurationError

__all__ = ["WorkerPool"]

logger = logging.getLogger(__name__)

Job = Callable[[], None]


class WorkerPool:
    """Runs jobs in at most ``max_workers`` daemon threads, first come first served.

    Args:
        max_workers: the bound on threads.
        name: a prefix for the threads' names (seen in debuggers and thread dumps).
        idle_timeout: seconds an idle thread waits for work before it ends.
    """

    __slots__ = (
        "_idle",
        "_jobs",
        "_lock",
        "_name",
        "_shutdown",
        "_threads",
        "idle_timeout",
        "max_workers",
    )

    def __init__(
        self, max_workers: int, name: str = "flask-realtime-worker", idle_timeout: float = 60.0
    ) -> None:
        self.max_workers = max_workers
        self.idle_timeout = idle_timeout
        self._name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads: set[threading.Thread] = set()
        self._shutdown = False

    @property
    def size(self) -> int:
        """The number of live worker threads."""
        return len(self._threads)

    def submit(self, job: Job) -> None:
        """Queue ``job``; start a thread for it if none is idle and the bound allows."""
        with self._lock:
            if self._shutdown:
                raise ConfigurationError("the worker pool is shut down")
            self._jobs.put(job)
            if self._idle > 0:
                self._idle -= 1
                return
            if len(self._threads) >= self.max_workers:
                return
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads) + 1}", daemon=True
            )
            self._threads.add(thread)
        thread.start()

    def shutdown(self) -> None:
        """Let every thread end once the jobs already queued are done."""
        with self._lock:
            self._shutdown = True
            count = len(self._threads)
        for _ in range(count):
            self._jobs.put(None)

    def _work(self) -> None:
        me = threading.current_thread()
        jobs = self._jobs
        while True:
            try:
                job = jobs.get(timeout=self.idle_timeout)
            except queue.Empty:
                with self._lock:
                    # A job may have been queued for us, counting on this idle thread.
                    if self._idle > 0 and jobs.empty():
                        self._idle -= 1
                        self._threads.discard(me)
                        return
                continue
            if job is None:
                with self._lock:
                    self._threads.discard(me)
                return
            try:
                job()
            except BaseException:  # a job reports its own errors; this is a last resort
                logger.exception("uncaught error in a worker thread job")
            with self._lock:
                self._idle += 1
