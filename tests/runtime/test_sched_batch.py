"""The worker pool's threads under SCHED_BATCH (runtime/sched_batch.py): no wake-up
preemption of the loop, and a policy an operator chose left alone."""

from __future__ import annotations

import os
import threading

import pytest

from flask_realtime.runtime.workers import WorkerPool


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies only")
def test_worker_threads_run_without_wakeup_preemption_and_leave_the_caller_alone() -> None:
    # A woken worker must not take the core from the loop that woke it (it would only
    # block on the GIL): its threads run under SCHED_BATCH; the submitting thread keeps
    # its own policy, and batch=False leaves the threads as they are.
    caller = os.sched_getscheduler(0)
    policies: list[int] = []
    done = threading.Event()

    def job() -> None:
        policies.append(os.sched_getscheduler(0))
        done.set()

    pool = WorkerPool(2, name="t")
    pool.submit(job)
    assert done.wait(5)
    pool.close()
    assert policies == [os.SCHED_BATCH]
    assert os.sched_getscheduler(0) == caller

    done.clear()
    plain = WorkerPool(2, name="t", batch=False)
    plain.submit(job)
    assert done.wait(5)
    plain.close()
    assert policies[1] == caller


def _worker_policy_under(policy: int) -> int:
    """The policy a pool's worker runs a job under, the pool made by a thread under
    ``policy`` (a thread's policy is its own; the threads it starts inherit it)."""
    policies: list[int] = []
    done = threading.Event()

    def job() -> None:
        policies.append(os.sched_getscheduler(0))
        done.set()

    def starter() -> None:
        os.sched_setscheduler(0, policy, os.sched_param(0))
        pool = WorkerPool(2, name="t")
        pool.submit(job)
        assert done.wait(5)
        pool.close()

    thread = threading.Thread(target=starter)
    thread.start()
    thread.join(10)
    (only,) = policies
    return only


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies only")
def test_a_process_under_another_policy_keeps_it_in_the_worker_threads() -> None:
    # An operator who runs the server under another policy than the normal one (chrt,
    # systemd's CPUSchedulingPolicy) keeps it: the pool does not turn it into SCHED_BATCH.
    # SCHED_IDLE stands for it here, as the one a process may take without privileges.
    assert _worker_policy_under(os.SCHED_IDLE) == os.SCHED_IDLE


@pytest.mark.skipif(not hasattr(os, "SCHED_RESET_ON_FORK"), reason="Linux scheduling policies only")
def test_the_reset_on_fork_flag_is_not_taken_for_another_policy() -> None:
    # sched_getscheduler reports the flag inside the policy (systemd's
    # CPUSchedulingResetOnFork=): a server under the normal policy with it still gets
    # SCHED_BATCH in its workers (Linux does not pass the flag on to new threads).
    assert _worker_policy_under(os.SCHED_OTHER | os.SCHED_RESET_ON_FORK) == os.SCHED_BATCH
