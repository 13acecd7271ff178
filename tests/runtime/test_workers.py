"""WorkerPool: bounded, on-demand threads that end when idle."""

from __future__ import annotations

import threading

import pytest

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.runtime import workers
from flask_realtime.runtime.workers import WorkerPool
from support.waiting import wait_until


def test_jobs_run_in_worker_threads() -> None:
    pool = WorkerPool(4, name="t")
    done = threading.Event()
    names: list[str] = []
    pool.submit(lambda: (names.append(threading.current_thread().name), done.set()))
    assert done.wait(5)
    assert len(names) == 1
    assert names[0].startswith("t-")
    pool.close()


def test_threads_start_on_demand_up_to_the_bound() -> None:
    pool = WorkerPool(3)
    assert pool.thread_count == 0
    gate = threading.Event()
    started = threading.Semaphore(0)
    finished: list[int] = []

    def job(i: int) -> None:
        started.release()
        assert gate.wait(5)
        finished.append(i)

    for i in range(5):
        pool.submit(lambda i=i: job(i))
    for _ in range(3):
        assert started.acquire(timeout=5)
    assert pool.thread_count == 3
    assert not started.acquire(timeout=0)  # the other two wait for a thread
    gate.set()
    wait_until(lambda: len(finished) == 5, what="every job")
    assert sorted(finished) == list(range(5))
    assert pool.thread_count == 3
    pool.close()


def test_an_idle_thread_is_reused() -> None:
    pool = WorkerPool(8, name="reuse")
    ran: list[threading.Thread] = []
    for _ in range(3):
        done = threading.Event()
        pool.submit(lambda done=done: (ran.append(threading.current_thread()), done.set()))
        assert done.wait(5)
    # Each job found the previous job's thread idle (or about to be): at most a spare one.
    assert pool.thread_count <= 2
    # The jobs ran on the pool's threads (named <name>-<n> in start order; none has ended),
    # no more of them than it started.
    threads = set(ran)
    assert {t.name for t in threads} <= {f"reuse-{n}" for n in range(pool.thread_count)}
    assert threading.current_thread() not in threads
    assert 1 <= len(threads) <= pool.thread_count
    pool.close()


def test_idle_threads_end_after_the_timeout() -> None:
    pool = WorkerPool(2, idle_timeout=0.05)
    done = threading.Event()
    pool.submit(done.set)
    assert done.wait(5)
    wait_until(lambda: pool.thread_count == 0, what="the idle thread to end")
    again = threading.Event()
    pool.submit(again.set)  # a new thread starts for new work
    assert again.wait(5)


def test_a_failing_job_does_not_kill_its_thread(caplog: pytest.LogCaptureFixture) -> None:
    pool = WorkerPool(1)

    def fail() -> None:
        raise RuntimeError("job failed")

    done = threading.Event()
    pool.submit(fail)
    pool.submit(done.set)
    assert done.wait(5)
    assert pool.thread_count == 1
    assert any("job failed" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    pool.close()


def test_shutdown_lets_threads_end() -> None:
    pool = WorkerPool(2)
    done = threading.Event()
    pool.submit(done.set)
    assert done.wait(5)
    pool.close()
    wait_until(lambda: pool.thread_count == 0, what="the threads to end")
    with pytest.raises(ConfigurationError, match="shut down"):
        pool.submit(done.set)


def test_clients_take_turns_and_one_client_holds_at_most_its_share() -> None:
    pool = WorkerPool(4, name="fair", share=2)
    gate = threading.Event()
    running: dict[str, int] = {"a": 0, "b": 0}
    most = {"a": 0, "b": 0}
    order: list[str] = []
    lock = threading.Lock()

    def job(key: str, wait: bool) -> None:
        with lock:
            running[key] += 1
            most[key] = max(most[key], running[key])
            order.append(key)
        if wait:
            assert gate.wait(5)
        with lock:
            running[key] -= 1

    for _ in range(20):  # client "a" floods slow jobs
        pool.submit(lambda: job("a", True), "a")
    wait_until(lambda: running["a"] == 2, what="a's share running")
    quick = threading.Event()
    pool.submit(lambda: (job("b", False), quick.set()), "b")
    # "a" holds two threads, no more: "b" runs at once, not after a's twenty jobs.
    assert quick.wait(5)
    assert most["a"] == 2
    gate.set()
    wait_until(lambda: len(order) == 21, what="every job")
    assert most == {"a": 2, "b": 1}
    pool.close()


def test_waiting_clients_are_served_in_turn() -> None:
    pool = WorkerPool(1, name="turns")
    gate = threading.Event()
    order: list[str] = []
    pool.submit(lambda: gate.wait(5), "first")  # holds the only thread
    for _ in range(3):
        pool.submit(lambda: order.append("a"), "a")
    pool.submit(lambda: order.append("b"), "b")
    pool.submit(lambda: order.append("c"), "c")
    gate.set()
    wait_until(lambda: len(order) == 5, what="every job")
    # "b" and "c" do not wait behind all of a's jobs: one job per client per turn.
    assert order == ["a", "b", "c", "a", "a"]
    pool.close()


def test_a_burst_of_quick_jobs_does_not_start_a_thread_each() -> None:
    pool = WorkerPool(16, name="burst")
    done = threading.Semaphore(0)
    gate = threading.Event()
    pool.submit(lambda: gate.wait(5), "holder")
    wait_until(lambda: pool.thread_count == 1, what="the first thread")
    for i in range(50):
        pool.submit(done.release, i)
    gate.set()
    for _ in range(50):
        assert done.acquire(timeout=5)
    # 50 clients' quick jobs: served by the threads that were awake, not 16 started.
    assert pool.thread_count < 16
    pool.close()


def test_late_jobs_of_many_clients_do_not_delay_another_clients_job() -> None:
    """A mass disconnect queues one disconnect handler (late) per client that left: a client
    still connected waits behind one of them at most, not behind all."""
    pool = WorkerPool(1, name="late")
    gate = threading.Event()
    order: list[str] = []
    pool.submit(lambda: gate.wait(5), "first")  # holds the only thread
    for n in range(200):
        pool.submit(lambda n=n: order.append(f"left-{n}"), f"left-{n}", late=True)
    pool.submit(lambda: order.append("echo"), "good")
    gate.set()
    wait_until(lambda: len(order) == 201, what="every job")
    assert order.index("echo") == 0  # the connected client's job first
    assert order[1:] == [f"left-{n}" for n in range(200)]  # the late ones in their order
    pool.close()


def test_late_jobs_keep_a_share_of_turns_under_load() -> None:
    pool = WorkerPool(1, name="late-share")
    gate = threading.Event()
    order: list[str] = []
    pool.submit(lambda: gate.wait(5), "first")
    for n in range(3):
        pool.submit(lambda n=n: order.append(f"late-{n}"), f"late-{n}", late=True)
    for n in range(12):
        pool.submit(lambda n=n: order.append(f"busy-{n}"), f"busy-{n}")
    gate.set()
    wait_until(lambda: len(order) == 15, what="every job")
    # one late turn after every LATE_EVERY (3) others (the first of them held the gate):
    # late jobs are never starved
    assert [i for i, name in enumerate(order) if name.startswith("late")] == [2, 6, 10]
    pool.close()


def test_a_late_job_still_starts_after_its_clients_earlier_jobs() -> None:
    pool = WorkerPool(1, name="late-order")
    gate = threading.Event()
    order: list[str] = []
    pool.submit(lambda: gate.wait(5), "first")
    pool.submit(lambda: order.append("event"), "a")
    pool.submit(lambda: order.append("disconnect"), "a", late=True)
    pool.submit(lambda: order.append("other"), "b")
    gate.set()
    wait_until(lambda: len(order) == 3, what="every job")
    assert order.index("event") < order.index("disconnect")
    pool.close()


def test_submit_does_not_wait_for_the_pools_lock() -> None:
    """The event loop submits jobs while worker threads hold the pool's lock: it must not
    wait for it (then for the GIL too). The job waits in the inbox, and the thread holding
    the lock queues it when it lets go."""
    pool = WorkerPool(2, name="inbox")
    ran = threading.Event()
    pool._lock.acquire()  # as a worker thread between two jobs
    returned = threading.Event()
    submitter = threading.Thread(target=lambda: (pool.submit(ran.set, "a"), returned.set()))
    submitter.start()
    try:
        assert returned.wait(5), "submit waited for the lock"
        assert not ran.is_set()  # nothing could queue it yet
        assert pool.queued == 0
    finally:
        pool._unlock()  # how every holder lets go: it finds the job, queues it
    assert ran.wait(5)
    submitter.join(5)
    pool.close()


def test_jobs_submitted_from_many_threads_while_the_workers_are_busy_all_run_in_order() -> None:
    """Submits racing with the workers' own use of the lock (quick jobs: the lock changes
    hands all the time) lose nothing, and each client's jobs start in submission order."""
    pool = WorkerPool(3, name="race", share=1)
    seen: dict[str, list[int]] = {}
    lock = threading.Lock()
    count = 2000

    def job(key: str, n: int) -> None:
        with lock:
            seen.setdefault(key, []).append(n)

    def submitter(key: str) -> None:
        for n in range(count):
            pool.submit(lambda n=n: job(key, n), key, late=n % 7 == 0)

    threads = [threading.Thread(target=submitter, args=(f"k{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    wait_until(lambda: sum(map(len, seen.values())) == 4 * count, what="every job", timeout=30)
    assert seen == {f"k{i}": list(range(count)) for i in range(4)}
    assert pool.queued == 0
    pool.close()


def test_a_thread_is_started_outside_the_lock() -> None:
    """A new thread's start waits for the thread to run: not while the lock is held, so
    that the other workers (and a submit) are not held up meanwhile."""
    pool = WorkerPool(2, name="outside")
    held: list[bool] = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        held.append(pool._lock.locked())
        real_start(thread)

    done = threading.Event()
    threading.Thread.start = start  # type: ignore[method-assign]
    try:
        pool.submit(done.set)
    finally:
        threading.Thread.start = real_start  # type: ignore[method-assign]
    assert done.wait(5)
    assert held == [False]
    pool.close()


def test_a_thread_made_once_the_lock_is_free_is_started_once() -> None:
    """The interleaving that started a worker thread twice (CI: ``KeyError`` in threading's
    bootstrap): a thread releases the lock with nothing to start; before it looks at what
    to start, another thread takes the lock, makes a worker and lets go. Only the maker
    starts that worker."""
    pool = WorkerPool(2, name="once")
    starts: list[threading.Thread] = []

    class Counted(threading.Thread):
        def start(self) -> None:
            starts.append(self)

    made = Counted()
    real = pool._lock
    interleaved: list[bool] = []

    class Interleaving:
        """The pool's lock; its first release lets "another thread" make a worker."""

        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            return real.acquire(blocking, timeout)

        def release(self) -> None:
            real.release()
            if not interleaved:
                interleaved.append(True)
                real.acquire()
                pool._starting.append(made)  # what _wake does for the other thread
                real.release()

        def locked(self) -> bool:
            return real.locked()

    pool._lock = Interleaving()  # type: ignore[assignment]
    pool._lock.acquire()
    pool._unlock()  # nothing of its own to start
    assert interleaved == [True]
    assert starts == []  # the worker is the other thread's to start
    pool._lock.acquire()
    pool._unlock()  # the other thread's _unlock, in effect
    assert starts == [made]
    pool._lock = real
    pool.close()


def test_a_wake_up_just_after_the_idle_timeout_leaves_the_sleep_lock_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A thread sleeps on its own lock each time, held whenever it is not asleep. Its
    sleep ends for lack of work, and before it takes the pool's lock a submit wakes it
    (releases its lock): it takes that release back, so that its next sleep blocks (a
    lock left free there would be released again by the next wake-up: a RuntimeError on
    the loop)."""

    class Watched:
        """The sleep lock: notes whether it is held each time a sleep starts."""

        def __init__(self) -> None:
            self.real = threading.Lock()
            self.timed_out = threading.Event()
            self.held_at_sleep: list[bool] = []

        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            if timeout != -1:  # a sleep (the re-take after a late wake-up has none)
                self.held_at_sleep.append(self.real.locked())
            got = self.real.acquire(blocking, timeout)
            if timeout != -1 and not got:
                self.timed_out.set()
            return got

        def release(self) -> None:
            self.real.release()

    watched = Watched()

    class WatchedParked(workers._Parked):
        def __init__(self) -> None:
            self.lock = watched  # type: ignore[assignment]
            watched.real.acquire()
            self.woken = False

    monkeypatch.setattr(workers, "_Parked", WatchedParked)
    pool = WorkerPool(1, name="late-wake", idle_timeout=0.2)
    first, second, third = threading.Event(), threading.Event(), threading.Event()
    pool.submit(first.set)
    assert first.wait(5)
    wait_until(lambda: bool(pool._parked), what="the thread asleep")
    pool._lock.acquire()  # the thread cannot take it once its sleep ends
    try:
        assert watched.timed_out.wait(5), "the sleep did not end"
        pool._inbox.append((second.set, None, False))  # a submit while the lock is held
        pool._drain()  # which wakes the thread: its lock released, after its time was up
    finally:
        pool._unlock()
    assert second.wait(5)
    wait_until(lambda: len(watched.held_at_sleep) >= 2, what="the thread asleep again")
    assert watched.held_at_sleep[:2] == [True, True]
    pool.submit(third.set)  # wakes it: no release of a free lock
    assert third.wait(5)
    pool.close()
