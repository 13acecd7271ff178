"""Context switches and system calls of a server per operation, beside callgrind's counts.

Instructions do not say what a thread hop costs in wall-clock time: a ``def`` handler's
event wakes a worker thread and the loop, and each wake-up is a context switch, futex calls
and a GIL hand-off, on one core when the server is pinned. ``instructions.py --switches``
and ``handshake_instructions.py --switches`` run the bench server without valgrind, pinned
to one CPU (``taskset``), drive it as they do under callgrind, and print per operation:

- the CPU time of every thread (``/proc/<pid>/task/*/schedstat``): wall-clock figures,
  as noisy as the machine is busy, but beside the switches they tell what a hop costs;
- the context switches of every thread of the server (``/proc/<pid>/task/*/status``:
  ``voluntary_ctxt_switches`` when a thread blocks, ``nonvoluntary_ctxt_switches`` when
  the scheduler takes the core from it), the loop thread apart from the others;
- with ``--syscalls``, the system calls of the window (``perf stat`` on the kernel's
  ``syscalls:sys_enter_*`` tracepoints, every thread of the server; root, or a
  ``perf_event_paranoid`` that allows it): how many ``futex``, ``epoll_wait``,
  ``write``/``writev`` and ``read`` one operation makes. (``strace -c`` slows every call so
  much that events batch differently: its counts describe another run.)

The figures include whatever else the run makes: a window that is warm and long enough
(thousands of operations) keeps the timers and pings below a hundredth per operation.

Bounded as the callers are: a fixed number of operations per window, and the server and
``perf`` stopped whatever happens. The server listens on ``--port`` + 100, never on the
port of a callgrind run of the same script.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["Counters", "count_window", "start_pinned"]

HERE = Path(__file__).resolve().parent


def thread_switches(pid: int) -> dict[int, tuple[int, int, int]]:
    """Per thread of ``pid``: (voluntary, nonvoluntary) context switches so far, and the
    nanoseconds it ran on a CPU (``schedstat``)."""
    out: dict[int, tuple[int, int, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
            ran = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # the thread ended meanwhile
            continue
        vol = re.search(r"^voluntary_ctxt_switches:\s*(\d+)", text, re.M)
        non = re.search(r"^nonvoluntary_ctxt_switches:\s*(\d+)", text, re.M)
        if vol and non:
            out[int(task.name)] = (int(vol.group(1)), int(non.group(1)), ran)
    return out


class Counters:
    """What one window cost, per operation."""

    def __init__(self, pid: int, before: dict[int, tuple[int, int, int]], n: int) -> None:
        after = thread_switches(pid)
        self.n = n
        self.loop = [0, 0, 0]  # the main thread (the event loop): switches, CPU ns
        self.others = [0, 0, 0]  # the worker threads
        self.threads = 0
        for tid, counts in after.items():
            was = before.get(tid, (0, 0, 0))
            target = self.loop if tid == pid else self.others
            for i in range(3):
                target[i] += counts[i] - was[i]
            if tid != pid and counts[2] != was[2]:
                self.threads += 1
        self.syscalls: dict[str, int] = {}

    def report(self) -> str:
        n = self.n
        cpu = (self.loop[2] + self.others[2]) / n / 1000
        lines = [
            f"    server CPU per operation: {cpu:.1f} us (loop {self.loop[2] / n / 1000:.1f}, "
            f"worker threads {self.others[2] / n / 1000:.1f}; wall-clock CPU time, noisy)",
            f"    context switches per operation: loop {self.loop[0] / n:.2f} voluntary "
            f"+ {self.loop[1] / n:.2f} involuntary; worker threads ({self.threads} active) "
            f"{self.others[0] / n:.2f} + {self.others[1] / n:.2f}",
        ]
        if self.syscalls:
            calls = sorted(self.syscalls.items(), key=lambda kv: -kv[1])
            text = ", ".join(f"{name} {count / n:.2f}" for name, count in calls[:10])
            lines.append(f"    system calls per operation: {text}")
        return "\n".join(lines)


def start_beside(python: str, script: str, base_port: int) -> subprocess.Popen[bytes]:
    """The bench server ``script`` pinned to CPU 0, on ``base_port + 100`` (another port
    than a callgrind run's: the two may run at once), with this process (the client) moved
    to CPU 1 where there is one."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the client on the other CPU than the server
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(HERE.parent / "src"))
    port = base_port + 100
    return start_pinned([python, script, "--port", str(port)], port, env)


def start_pinned(
    command: list[str], port: int, env: dict[str, str], cpu: int = 0
) -> subprocess.Popen[bytes]:
    """The server ``command`` pinned to ``cpu``, once it accepts connections (30 s at most)."""
    return start_listening(["taskset", "-c", str(cpu), *command], port, env, 30.0, 0.1)


def start_listening(
    command: list[str], port: int, env: dict[str, str], seconds: float, every: float
) -> subprocess.Popen[bytes]:
    """The server ``command`` in a process group of its own, returned once it accepts
    connections on ``port`` (tried every ``every`` s); stopped, and RuntimeError, when it
    exits first or ``seconds`` pass."""
    server = subprocess.Popen(
        command,
        cwd=HERE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                return server
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(every)
    except BaseException:  # not started, or interrupted while waiting: no server left
        stop(server)
        raise


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group: SIGINT, then SIGKILL."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


_SYSCALLS = (
    "futex",
    "epoll_wait",
    "epoll_pwait",
    "read",
    "write",
    "writev",
    "recvfrom",
    "sendto",
    "getpid",
)
"""The system calls counted with ``syscalls`` (perf's ``syscalls:sys_enter_*`` tracepoints)."""


def count_window(pid: int, n: int, run: Callable[[int], object], syscalls: bool) -> Counters:
    """Run ``run(n)`` and count what it cost the server ``pid``: its context switches, and
    with ``syscalls`` its system calls (``perf stat`` on the syscall tracepoints, every
    thread of the server, around the window only: cheap, so batching is as unobserved)."""
    tracer = None
    out = Path(f"/tmp/perf-{pid}-{time.monotonic_ns()}.csv")
    if syscalls:
        events = ",".join(f"syscalls:sys_enter_{name}" for name in _SYSCALLS)
        tracer = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-o", str(out), "-e", events, "-p", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # attached before the window starts
    try:
        before = thread_switches(pid)
        run(n)
        counters = Counters(pid, before, n)
    finally:
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            try:
                tracer.wait(30)
            except subprocess.TimeoutExpired:
                tracer.kill()
                tracer.wait(10)
    if tracer is not None:
        for line in out.read_text().splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[0].isdigit() and "sys_enter_" in fields[2]:
                counters.syscalls[fields[2].split("sys_enter_")[1]] = int(fields[0])
        out.unlink()
    return counters
