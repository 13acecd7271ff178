"""A bounded pool of worker threads for blocking application code.

It runs WSGI requests (the HTTP server's pool) and ``def`` event handlers (each app's pool).
Why not ``concurrent.futures.ThreadPoolExecutor``: a job needs no ``Future`` (it reports its
own result to the loop, in the same wake-up as its last bytes or emits), and the threads are
daemons, so that application code stuck in a job cannot keep the process alive once a
graceful shutdown has run out of time. Threads start on demand, up to ``max_threads``; jobs
beyond that wait in FIFO order; with ``idle_timeout``, a thread that had no work for that
long ends, so an idle app holds no threads.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from flask_realtime.exceptions import ConfigurationError

__all__ = ["DEFAULT_WSGI_THREADS", "WorkerPool"]

logger = logging.getLogger(__name__)

DEFAULT_WSGI_THREADS = 32
"""Flask views spend most of their time waiting (database, HTTP calls, files), not computing:
a fixed 32 keeps that many requests in flight on any machine, where a CPU-count formula would
starve a small container. Idle threads cost little; they only start when needed."""

Job = Callable[[], object]


class WorkerPool:
    """Run jobs on up to ``max_threads`` daemon threads, in submission order.

    ``submit`` may be called from any thread; jobs must catch their own exceptions (one that
    escapes is logged and the thread goes on).
    """

    def __init__(
        self,
        max_threads: int = DEFAULT_WSGI_THREADS,
        name: str = "worker",
        *,
        idle_timeout: float | None = None,
    ) -> None:
        if max_threads < 1:
            raise ConfigurationError(f"max_threads must be at least 1, not {max_threads}")
        self._max = max_threads
        self._name = name
        self._idle_timeout = idle_timeout
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def max_threads(self) -> int:
        """The most threads the pool runs at once."""
        return self._max

    @property
    def queued(self) -> int:
        """Jobs waiting for a thread now (approximate; for the metrics, observe)."""
        return self._jobs.qsize()

    @property
    def thread_count(self) -> int:
        """How many threads have been started (and not yet stopped)."""
        return len(self._threads)

    def submit(self, job: Job) -> None:
        """Queue ``job``; start a thread for it when none is idle and the pool has room."""
        if self._closed:
            raise ConfigurationError("the worker pool is shut down")
        self._jobs.put(job)
        if self._idle.acquire(blocking=False):
            return  # an idle thread will take it
        with self._lock:
            if len(self._threads) < self._max:
                thread = threading.Thread(
                    target=self._work,
                    name=f"{self._name}-{len(self._threads)}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()

    def close(self) -> None:
        """Stop taking jobs; threads end once the queued jobs are done (no waiting)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            count = len(self._threads)
        for _ in range(count):
            self._jobs.put(None)

    def shutdown(self, timeout: float | None = None) -> bool:
        """``close``, then wait up to ``timeout`` seconds (``None``: for ever) for the
        threads to end. Returns whether they all did."""
        self.close()
        with self._lock:
            threads = list(self._threads)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            if deadline is None:
                thread.join()
            else:
                thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in threads if t.is_alive()]
        if alive:
            logger.warning("%d worker thread(s) still busy after shutdown", len(alive))
        return not alive

    def _work(self) -> None:
        jobs = self._jobs
        timeout = self._idle_timeout
        while True:
            try:
                job = jobs.get(timeout=timeout)
            except queue.Empty:
                # Idle too long: end, unless a submit has just counted on an idle thread
                # (it took the idle token first; then the job is ours to run).
                if self._idle.acquire(blocking=False):
                    break
                continue
            if job is None:
                break
            try:
                job()
            except BaseException:
                logger.exception("a job raised out of the worker pool")
            finally:
                del job
            self._idle.release()
        with self._lock:
            self._threads.remove(threading.current_thread())
