"""How long a thread may hold the GIL while another waits for it, in a process the server
owns: shorter than Python's 5 ms, so that the loop is not kept waiting by busy handlers.

The event loop shares the GIL with the threads that run ``def`` handlers. When those
threads are busy (a thousand clients leaving at once, each with a ``def`` disconnect
handler; handlers that compute), the loop, back from the kernel with data to serve, waits
for a busy thread to let the GIL go, which CPython forces only after the switch interval
(``sys.setswitchinterval``, 5 ms by default), and each loop turn can pay that wait again.
A client's event takes several turns (read, handed to a thread, answered), so its
latency grew by multiples of 5 ms. With 1 ms, ``bench/soak.py``'s mass disconnect
(17,000 sessions with a ``def`` disconnect handler ending at once) gave the echoing
client a p99 of 12-27 ms in five runs, against 21-75 ms with 5 ms in seven runs
(``bench/results/soak/leave-2026-12-04/``), and the echo benchmark moved within its
noise (a handler that returns quickly lets the GIL go long before either interval).

Set by ``socketio.run()`` (its process, or each worker of ``run(workers=N)``) and by the
gunicorn worker class, from the process's main thread, and only while the process still
has Python's default: an interval the app chose is kept. ``SocketIO(switch_interval=None)``
leaves it as it is.
"""

from __future__ import annotations

import sys
import threading

__all__ = ["PYTHON_DEFAULT", "SWITCH_INTERVAL", "restore_switch_interval", "set_switch_interval"]

SWITCH_INTERVAL = 0.001
"""Seconds: the interval set by default (see the module docstring)."""

PYTHON_DEFAULT = 0.005
"""CPython's own interval: the only one replaced."""

_lock = threading.Lock()
_replaced: list[float] = []  # the interval it replaced, while set


def set_switch_interval(seconds: float) -> bool:
    """Set the GIL's switch interval to ``seconds`` when called from the main thread (the
    server owns the process) and the interval is still Python's default; whether it was
    set. Once set, later calls change nothing until :func:`restore_switch_interval`."""
    if threading.current_thread() is not threading.main_thread():
        return False
    with _lock:
        current = sys.getswitchinterval()
        if _replaced or abs(current - PYTHON_DEFAULT) > 1e-9:
            return False
        _replaced.append(current)
        sys.setswitchinterval(seconds)
        return True


def restore_switch_interval() -> None:
    """Put back the interval :func:`set_switch_interval` replaced, if it replaced one: the
    server that owned the process has stopped (the process may go on, a test's for one)."""
    with _lock:
        if _replaced:
            sys.setswitchinterval(_replaced.pop())
