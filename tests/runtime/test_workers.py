"""WorkerPool: bounded, on-demand threads that end when idle."""

from __future__ import annotations

import threading

import pytest

from flask_realtime.exceptions import ConfigurationError
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
