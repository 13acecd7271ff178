"""A bounded pool of worker threads for blocking application code, fair across clients.

It runs WSGI requests (the HTTP server's pool) and ``def`` event handlers (each app's pool).
Why not ``concurrent.futures.ThreadPoolExecutor``: a job needs no ``Future`` (it reports its
own result to the loop, in the same wake-up as its last bytes or emits), and the threads are
daemons, so that application code stuck in a job cannot keep the process alive once a
graceful shutdown has run out of time. Threads start on demand, up to ``max_threads``; with
``idle_timeout``, a thread that had no work for that long ends, so an idle app holds no
threads.

Fairness: a job may name the client it serves (``key``). Each client's jobs wait in a queue
of their own, and the clients with jobs waiting take turns for the next free thread, so a
client that queues hundreds of slow jobs delays another client's job by at most one turn,
not by hundreds. A client also runs at most ``share`` jobs at once, so that others always
find threads. Jobs without a key (WSGI requests) are one client among the others.

Late jobs: a job submitted with ``late=True`` (a disconnect handler: nobody waits for its
answer) waits in a second queue of turns, which gets one turn in ``LATE_EVERY + 1`` while
other jobs wait, and every turn when none do. When thousands of clients leave at once,
their disconnect handlers are thousands of turns: in the one queue, a client still
connected would wait behind all of them; here it waits behind at most one.

Thread hops: a thread that finishes a job takes the next waiting one at once, without
sleeping, so a burst of quick jobs is served by the threads already awake (one wake-up
serves many jobs). A sleeping thread is woken (or a new one started) only when no awake
thread is free to take a waiting job, and then it first gives the busy threads
``HELP_DELAY`` to come back for it: it takes the job only if none of them did in that time
(their jobs are slow, or block). Quick jobs stay on few threads; a slow one never holds
the others' jobs for longer than that.

Handing jobs in without waiting: ``submit`` is called from the event loop, and the loop
must never wait for the pool's lock. A worker thread that holds it runs Python code with
the GIL; a loop blocked on the lock, once the lock is free, waits for the GIL as well (up
to the interpreter's switch interval, 5 ms) while that worker goes on with its job: when
17,000 clients left at once, the loop spent most of half a second so, one disconnect
handler at a time (``bench/soak.py``). So ``submit`` appends the job to an inbox (a deque:
appending is atomic) and takes the lock only if it is free at once; if it is not, the
thread holding it moves the inbox into the clients' queues before it lets go (every
release of the lock looks at the inbox after releasing: :meth:`WorkerPool._unlock`, or
the same written out in ``submit`` and ``_work``, which run once per job). Threads are
started after the lock is released, not under it, so that the other workers do not wait
for a thread's start either.

No wake-up preemption (Linux): each thread runs under ``SCHED_BATCH``, see
:mod:`flask_realtime.runtime.sched_batch`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence

from flask_realtime.exceptions import ConfigurationError

from .sched_batch import no_wakeup_preemption

__all__ = ["DEFAULT_WSGI_THREADS", "WorkerPool"]

logger = logging.getLogger(__name__)

DEFAULT_WSGI_THREADS = 32
"""Flask views spend most of their time waiting (database, HTTP calls, files), not computing:
a fixed 32 keeps that many requests in flight on any machine, where a CPU-count formula would
starve a small container. Idle threads cost little; they only start when needed."""

Job = Callable[[], object]

HELP_DELAY = 0.002
"""Seconds a woken thread waits for the busy threads to take the waiting jobs themselves
(see the module docstring) before it takes one."""

LATE_EVERY = 3
"""While other jobs wait, a late job gets every ``LATE_EVERY + 1``-th turn (see the module
docstring): late jobs still progress under load."""


class _Client:
    """The jobs of one key: waiting, and how many run."""

    __slots__ = ("jobs", "key", "running", "turn")

    def __init__(self) -> None:
        self.key: Hashable = None
        self.jobs: deque[tuple[Job, bool]] = deque()  # (job, late), in submission order
        self.running = 0
        self.turn = False  # in the pool's queue of clients waiting for a thread


class _Parked:
    """A sleeping thread: it blocks on its own lock until another thread releases it (a
    lock is the cheapest way to wake one thread; a ``Condition`` costs a lock per wait).
    Each thread has one, held (acquired) whenever the thread is not parked, and parks on
    it again and again: no object per sleep."""

    __slots__ = ("lock", "woken")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.woken = False


class WorkerPool:
    """Run jobs on up to ``max_threads`` daemon threads, fairly across their keys.

    ``submit`` may be called from any thread; jobs must catch their own exceptions (one that
    escapes is logged and the thread goes on). Jobs of one key start in submission order.

    Args:
        max_threads: the most threads the pool runs at once.
        name: the threads' name prefix.
        idle_timeout: seconds after which a thread with no work ends (None: never).
        share: the most jobs of one key that run at once (None: ``max_threads``).
        batch: run the threads under ``SCHED_BATCH`` where there is one (no wake-up
            preemption: see the module docstring).
    """

    def __init__(
        self,
        max_threads: int = DEFAULT_WSGI_THREADS,
        name: str = "worker",
        *,
        idle_timeout: float | None = None,
        share: int | None = None,
        batch: bool = True,
    ) -> None:
        if max_threads < 1:
            raise ConfigurationError(f"max_threads must be at least 1, not {max_threads}")
        if share is not None and share < 1:
            raise ConfigurationError(f"share must be at least 1, not {share}")
        self._max = max_threads
        self._share = max_threads if share is None else min(share, max_threads)
        self._name = name
        self._idle_timeout = -1 if idle_timeout is None else idle_timeout
        self._lock = threading.Lock()
        self._inbox: deque[tuple[Job, Hashable, bool]] = deque()  # submitted, not yet queued
        self._starting: list[threading.Thread] = []  # to start once the lock is released
        self._clients: dict[Hashable, _Client] = {}  # keys with jobs waiting or running
        self._spare: list[_Client] = []  # client records to reuse
        self._turns: deque[_Client] = deque()  # clients whose next job may start, in turn
        self._late: deque[_Client] = deque()  # the same, for clients whose next job is late
        self._since_late = 0  # turns given to _turns since _late last had one
        self._threads: list[threading.Thread] = []
        self._parked: list[_Parked] = []  # sleeping threads
        self._busy = 0  # threads running a job
        self._queued = 0  # jobs waiting, all keys
        self._taken = 0  # jobs taken so far: the busy threads' progress, for helpers
        self._closed = False
        self._started = 0  # threads started so far: the next one's number
        self._batch = batch

    @property
    def max_threads(self) -> int:
        """The most threads the pool runs at once."""
        return self._max

    @property
    def thread_count(self) -> int:
        """How many threads have been started (and not yet stopped)."""
        return len(self._threads)

    @property
    def turns_waiting(self) -> bool:
        """Whether a client's job that is not late waits for a thread now (read without
        the lock, from any thread: a hint, as of a moment ago)."""
        return bool(self._turns)

    @property
    def queued(self) -> int:
        """How many jobs wait for a thread (read by the metrics, observe)."""
        return self._queued

    def submit(self, job: Job, key: Hashable = None, *, late: bool = False) -> None:
        """Queue ``job`` for client ``key``; wake or start a thread if none is free for it.
        Never waits for the pool's lock (see the module docstring).

        ``late``: the job may wait for the other clients' jobs (see the module docstring);
        it still starts after the jobs ``key`` submitted before it."""
        if self._closed:
            raise ConfigurationError("the worker pool is shut down")
        inbox = self._inbox
        inbox.append((job, key, late))
        lock = self._lock
        if not lock.acquire(False):
            return  # the thread holding the lock queues the job before letting go (_unlock)
        self._drain()
        if self._starting:
            self._unlock()
            return
        # What _unlock does when there is no thread to start, inline (once per event).
        lock.release()
        if inbox and lock.acquire(False):
            self._drain()
            self._unlock()

    def _drain(self) -> None:
        """Move the submitted jobs into their clients' queues, in submission order, and
        make sure threads will take them (the lock is held)."""
        inbox = self._inbox
        clients = self._clients
        share = self._share
        while inbox:
            job, key, late = inbox.popleft()
            client = clients.get(key)
            if client is None:
                client = self._spare.pop() if self._spare else _Client()
                client.key = key
                clients[key] = client
            client.jobs.append((job, late))
            self._queued += 1
            if not client.turn and client.running < share:
                client.turn = True
                # its turn (in the late queue if its next job is late), and a thread to
                # take it unless one is free (_wake, inline: once per event)
                (self._late if client.jobs[0][1] else self._turns).append(client)
                sleeping = self._parked
                if len(self._threads) - len(sleeping) - self._busy <= 0:
                    if sleeping:  # what _wake does then, inline
                        sleeper = sleeping.pop()
                        sleeper.woken = True
                        sleeper.lock.release()
                    else:
                        self._wake()

    def _unlock(self) -> None:
        """Release the lock, then start the threads :meth:`_wake` asked for, and queue
        what was submitted while the lock was held (``submit`` left it in the inbox)."""
        lock = self._lock
        inbox = self._inbox
        while True:
            starting: Sequence[threading.Thread] = self._starting
            if starting:
                self._starting = []
            else:
                # Not the live list: once the lock is free, another thread may append to it
                # and start what it appended, and this loop would start that thread again.
                starting = ()
            lock.release()
            for thread in starting:
                self._start(thread)
            # An append that found the lock held happened before this release: seen here.
            if not inbox or not lock.acquire(False):
                return  # nothing new, or another thread holds the lock and will look
            self._drain()

    def _start(self, thread: threading.Thread) -> None:
        """Start ``thread``, made by :meth:`_wake` (the lock is not held)."""
        try:
            thread.start()
        except RuntimeError:  # the system has no more threads to give
            logger.exception("the worker pool could not start a thread")
            self._lock.acquire()
            self._threads.remove(thread)
            self._unlock()

    def _wake(self) -> None:
        """Make sure a thread will take the next turn (the lock is held). A new thread is
        only made here; :meth:`_unlock` starts it once the lock is free."""
        if len(self._threads) - len(self._parked) - self._busy > 0:
            return  # a thread awake (or starting) and not in a job will take it
        if self._parked:
            parked = self._parked.pop()
            parked.woken = True
            parked.lock.release()
        elif len(self._threads) < self._max:
            number = self._started
            self._started += 1
            thread = threading.Thread(target=self._work, name=f"{self._name}-{number}", daemon=True)
            self._threads.append(thread)
            self._starting.append(thread)

    def close(self) -> None:
        """Stop taking jobs; threads end once the queued jobs are done (no waiting)."""
        self._lock.acquire()
        self._drain()  # what was submitted before still runs
        self._closed = True
        parked, self._parked = self._parked, []
        self._unlock()
        for sleeper in parked:
            sleeper.lock.release()

    def shutdown(self, timeout: float | None = None) -> bool:
        """``close``, then wait up to ``timeout`` seconds (``None``: for ever) for the
        threads to end. Returns whether they all did."""
        self.close()
        self._lock.acquire()
        threads = list(self._threads)
        self._unlock()
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

    def _wait_for_turn(self, helping: bool, parked: _Parked) -> bool:
        """Wait until this thread may take the next turn (True), or should end (False).
        Called and returns with the lock held. ``helping``: the thread was woken or
        started to help busy ones. ``parked``: the thread's own, to sleep on. The slow
        path of :meth:`_work`: a thread that has just ended a job and finds a turn
        waiting takes it without coming here."""
        lock = self._lock
        turns = self._turns
        late = self._late
        while True:
            if turns or late:
                if not (helping and self._busy):
                    return True
                # Woken to help: take a job only if the busy threads make no progress.
                seen = self._taken
                self._unlock()
                time.sleep(HELP_DELAY)
                lock.acquire()
                if self._inbox:
                    self._drain()
                if self._taken == seen and (turns or late):
                    return True
                continue
            if self._closed:
                return False
            parked.woken = False
            self._parked.append(parked)
            self._unlock()  # which may queue a job submitted meanwhile, and wake this one
            woke = parked.lock.acquire(timeout=self._idle_timeout)
            lock.acquire()
            if self._inbox:
                self._drain()
            if not parked.woken:
                if parked in self._parked:
                    self._parked.remove(parked)  # idle too long (or closing): not parked now
            elif not woke:
                # Woken just after its time was up: the release came (under the lock,
                # held now); take it back, so the lock is held again for the next sleep.
                parked.lock.acquire()
            if not woke and not turns and not late:
                return False  # idle too long
            helping = True

    def _work(self) -> None:
        """A worker thread: take turns and run their jobs until idle too long or closed.

        Per job this runs no other method of the pool in the common case (a turn waits,
        nothing is left in the inbox, no thread to start): the end of the last job, the
        choice of the next turn and :meth:`_unlock` are written out here, as a method
        call costs more than any of them (they run once per event).
        """
        lock = self._lock
        inbox = self._inbox
        turns = self._turns
        late = self._late
        share = self._share
        client: _Client | None = None  # whose job this thread ran last
        parked = _Parked()  # what this thread sleeps on, whenever it has nothing to do
        if self._batch:
            no_wakeup_preemption()
        lock.acquire()
        while True:
            if inbox:
                self._drain()
            if client is None:
                helping = True  # started, or about to wait: see _wait_for_turn
            else:
                # The job of ``client`` ended.
                helping = False
                client.running -= 1
                self._busy -= 1
                if client.jobs:
                    if not client.turn and client.running < share:
                        client.turn = True
                        (late if client.jobs[0][1] else turns).append(client)
                elif not client.running:
                    del self._clients[client.key]
                    client.key = None
                    if len(self._spare) < 64:
                        self._spare.append(client)
                client = None
            if ((not turns and not late) or (helping and self._busy)) and not (
                self._wait_for_turn(helping, parked)
            ):
                self._threads.remove(threading.current_thread())
                self._unlock()
                return
            # The next turn, across clients (late ones: one turn in LATE_EVERY + 1).
            if late and (not turns or self._since_late >= LATE_EVERY):
                client = late.popleft()
                self._since_late = 0
            else:
                client = turns.popleft()
                self._since_late += 1
            job = client.jobs.popleft()[0]
            self._queued -= 1
            self._taken += 1
            client.running += 1
            self._busy += 1
            if client.jobs and client.running < share:
                (late if client.jobs[0][1] else turns).append(client)  # its next turn
            else:
                client.turn = False
            if (turns or late) and len(self._threads) - len(self._parked) - self._busy <= 0:
                self._wake()  # more turns waiting and no thread free: one to help
            if self._starting:
                self._unlock()
            else:  # _unlock with no thread to start, inline
                lock.release()
                if inbox and lock.acquire(False):
                    self._drain()
                    self._unlock()
            try:
                job()
            except BaseException:
                logger.exception("a job raised out of the worker pool")
            del job  # let the job go while this thread waits for the next
            lock.acquire()
