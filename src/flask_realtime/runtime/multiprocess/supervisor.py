"""The supervising process of ``socketio.run(app, workers=N)``: forks, watches, stops.

The supervisor binds nothing itself (its caller made the listening socket, so a port in
use fails before any worker exists), runs the workers' hub on a small asyncio loop of its
own, and forks ``N`` workers, each of which inherits the listening socket and runs
``start_worker(index)`` on a new loop: the kernel spreads the accepted connections over
them.

- **Ready**: a worker counts as started once it joined the hub (``on_joined``).
- **Cannot start**: a worker that exits before joining the hub (its app failed to load,
  its adapter cannot reach the broker, ...) stops everything; :meth:`Supervisor.run`
  returns 1 after the others stopped.
- **Restart**: a worker that dies afterwards (a crash, SIGKILL, the OOM killer) is forked
  again under the same index (its sessions are lost: their clients reconnect). One that
  keeps dying within a second of its start waits longer each time, up to 5 s.
- **Stop**: SIGINT or SIGTERM to the supervisor is passed to every worker, which stops
  gracefully (clients are told, requests in flight finish); a second signal is passed on
  too, and forces them. Workers still running ``grace`` seconds later are killed. The
  supervisor returns 0.

Forking from a running asyncio loop: the child forgets the parent's loop and signal
wake-up descriptor first (:func:`_forget_parent_loop`), so its own loop starts clean and
its signals are its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["Supervisor"]

logger = logging.getLogger(__name__)

BOOT_FAILED = 3
"""The exit status of a worker that could not start (gunicorn's choice too)."""

RESTART_MAX_DELAY = 5.0
_QUICK_DEATH = 1.0  # seconds: a worker dying sooner is restarted with a growing delay


class Supervisor:
    """Runs and watches ``workers`` processes (see the module docstring).

    Args:
        workers: how many.
        start_worker: runs worker ``index`` in the child process until it stops; its
            return (or ``SystemExit``) ends the child.
        hub_start, hub_stop: start and stop the workers' hub on the supervisor's loop.
        grace: seconds the workers get to stop gracefully before they are killed.
        announce: called once every worker started.
    """

    def __init__(
        self,
        workers: int,
        start_worker: Callable[[int], object],
        *,
        hub_start: Callable[[], Coroutine[Any, Any, None]],
        hub_stop: Callable[[], Coroutine[Any, Any, None]],
        grace: float,
        announce: Callable[[], object] | None = None,
    ) -> None:
        self.workers = workers
        self._start_worker = start_worker
        self._hub_start = hub_start
        self._hub_stop = hub_stop
        self.grace = grace
        self._announce = announce
        self._pids: dict[int, int] = {}  # pid -> index
        self._started_at: dict[int, float] = {}  # index -> when forked
        self._joined: set[int] = set()  # indexes that reached the hub in this life
        self._delays: dict[int, float] = {}
        self._announced = False
        self._stopping = 0
        self._failed = False
        self._done: asyncio.Event | None = None

    def run(self) -> int:
        """Supervise until stopped; the exit status for the process (0, or 1 when the
        workers could not start)."""
        loop = asyncio.SelectorEventLoop()  # not uvloop: the children fork from this loop
        try:
            return loop.run_until_complete(self._main())
        finally:
            loop.close()

    # -- the hub tells us who is up --------------------------------------------------------

    def on_joined(self, index: int) -> None:
        """Worker ``index`` reached the hub: it is up."""
        self._joined.add(index)
        if not self._announced and len(self._joined) >= self.workers:
            self._announced = True
            if self._announce is not None:
                self._announce()

    # -- internals -----------------------------------------------------------------------

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        await self._hub_start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        try:
            for index in range(self.workers):
                self._fork(index)
            await self._done.wait()
            await self._stop_all()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
                loop.remove_signal_handler(sig)
            await self._hub_stop()
        return 1 if self._failed else 0

    def _fork(self, index: int) -> None:
        if self._stopping:
            return
        self._joined.discard(index)
        pid = os.fork()
        if pid == 0:  # the worker
            _forget_parent_loop()
            code = 0
            try:
                self._start_worker(index)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
                code = BOOT_FAILED
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
        self._pids[pid] = index
        self._started_at[index] = time.monotonic()
        print(f" * worker {index} started (pid {pid})", file=sys.stderr, flush=True)

    def _reap(self) -> None:
        while self._pids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            index = self._pids.pop(pid, None)
            if index is not None:
                self._worker_exited(index, pid, status)
        if self._stopping and not self._pids and self._done is not None:
            self._done.set()

    def _worker_exited(self, index: int, pid: int, status: int) -> None:
        if self._stopping:
            return
        how = (
            f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
            if os.WIFSIGNALED(status)
            else f"exited with status {os.WEXITSTATUS(status)}"
        )
        if index not in self._joined:
            print(
                f"Error: worker {index} (pid {pid}) {how} before it started; stopping.",
                file=sys.stderr,
                flush=True,
            )
            self._failed = True
            self._begin_stop(signal.SIGTERM)
            return
        lived = time.monotonic() - self._started_at.get(index, 0.0)
        delay = 0.0
        if lived < _QUICK_DEATH:
            delay = min(RESTART_MAX_DELAY, max(0.1, self._delays.get(index, 0.0) * 2))
        self._delays[index] = delay
        logger.warning("worker %d (pid %d) %s; starting it again", index, pid, how)
        print(f" * worker {index} (pid {pid}) {how}; restarting it", file=sys.stderr, flush=True)
        asyncio.get_running_loop().call_later(delay, self._fork, index)

    def _on_stop_signal(self, sig: int) -> None:
        self._begin_stop(sig)

    def _begin_stop(self, sig: int) -> None:
        self._stopping += 1
        for pid in list(self._pids):
            try:
                os.kill(pid, signal.SIGTERM if sig == signal.SIGTERM else signal.SIGINT)
            except ProcessLookupError:
                pass
        if self._done is not None:
            if not self._pids:
                self._done.set()
            elif self._stopping == 1:
                print(
                    f" * stopping {len(self._pids)} worker(s) (grace {self.grace:g} s); "
                    "signal again to force",
                    file=sys.stderr,
                    flush=True,
                )

    async def _stop_all(self) -> None:
        """Wait for the workers to stop, killing those still running after the grace."""
        deadline = time.monotonic() + self.grace + 2.0
        while self._pids and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            self._reap()
        for pid in list(self._pids):
            logger.warning("worker pid %d did not stop in time: killed", pid)
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        self._pids.clear()


def _forget_parent_loop() -> None:
    """In a forked worker: no running loop, default signal handlers, no wake-up fd, and a
    process group of its own, so that Ctrl+C in a terminal reaches the supervisor alone
    (which passes it on once) instead of every worker twice. A worker whose supervisor
    is gone stops by itself: its link to the hub closes."""
    os.setpgid(0, 0)
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
