"""Worker threads without wake-up preemption: the ``SCHED_BATCH`` policy (Linux).

Each thread of a :class:`~flask_realtime.runtime.workers.WorkerPool` runs under
``SCHED_BATCH`` (unless made with ``batch=False``): the normal policy at the same priority
and the same share of the CPU, but for one thing: a thread woken under it does not take
the CPU from the thread running there, it waits for that thread's next block or the end of
its time slice. A job is submitted by the loop while the loop holds the GIL; a woken
worker that takes the core then can only block on the GIL at once, and the loop then goes
on: two context switches and two futex calls for nothing. With the server on one core,
each ``def`` event so paid about two context switches (a worker woken into the GIL, the
loop pre-empted); under ``SCHED_BATCH`` a few per ten events (``bench/instructions.py
--switches``). Where a core is free, the woken thread runs there at once, as before.
Threads and processes that a job starts inherit the policy (Linux does that); a process
run under another policy than the normal one keeps its own.
"""

from __future__ import annotations

import os

__all__ = ["no_wakeup_preemption"]

_BATCH_POLICY: int | None = (
    getattr(os, "SCHED_BATCH", None)
    if hasattr(os, "sched_setscheduler") and hasattr(os, "sched_getscheduler")
    else None
)

_RESET_ON_FORK: int = getattr(os, "SCHED_RESET_ON_FORK", 0)


def no_wakeup_preemption() -> None:
    """Put the calling thread under ``SCHED_BATCH`` where there is one (see the module
    docstring), if it runs under the normal policy: a process that an operator put under
    another (``chrt``, systemd's ``CPUSchedulingPolicy``) keeps it. Nothing where the
    system has no such policy or refuses."""
    if _BATCH_POLICY is None:
        return
    try:
        policy = os.sched_getscheduler(0)  # 0: this thread
        reset_on_fork = policy & _RESET_ON_FORK  # a flag in the policy: kept as it is
        if policy & ~_RESET_ON_FORK != os.SCHED_OTHER:
            return
        os.sched_setscheduler(0, _BATCH_POLICY | reset_on_fork, os.sched_param(0))
    except OSError:  # pragma: no cover - a sandbox that forbids it
        pass
