"""The workers' hub in a process of its own, for a process manager that is not ours.

Under ``socketio.run(app, workers=N)`` the hub
(:class:`~flask_realtime.adapters.local_hub.LocalHub`) runs on the supervisor's loop.
gunicorn's master is gunicorn's: it runs no asyncio loop and should not get threads (it
forks its workers, and forking a process with threads risks deadlocks in the child). So the
gunicorn worker class starts the hub as a small child process of the master, before the
master forks any worker (:func:`start_hub_process`), and every worker joins it through the
socket in the run directory.

The hub process lives as long as the master that started it: it ignores SIGINT and SIGTERM
(a terminal's Ctrl+C, or a service manager signalling the whole group, must not take the
hub away while the workers stop gracefully and still forward requests to each other) and
exits once the master is gone (its parent changes), removing the run directory. It is a
fresh interpreter (``python -m``), not a fork: it holds nothing of the master's.
"""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import signal
import subprocess
import sys
import time

from ..exceptions import BrokerUnavailableError
from .local_hub import LocalHub

__all__ = ["hub_path", "start_hub_process"]

READY = b"ready\n"
WATCH_INTERVAL = 0.5
"""Seconds between two checks that the master is still there."""


def hub_path(directory: str) -> str:
    """The hub's socket in the run directory."""
    return os.path.join(directory, "hub.sock")


def start_hub_process(directory: str, timeout: float = 15.0) -> subprocess.Popen[bytes]:
    """Start the hub for the run directory ``directory`` as a child of this process, and
    wait until it listens.

    Raises:
        BrokerUnavailableError: it exited or did not say it listens within ``timeout`` seconds.
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask_realtime.adapters.local_hub_process",
            directory,
            str(os.getpid()),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        close_fds=True,
    )
    stdout = process.stdout
    assert stdout is not None
    with stdout:
        line = _first_line(process, stdout.fileno(), timeout)
    if line != READY:
        process.kill()
        process.wait()
        raise BrokerUnavailableError(f"the workers' hub said {line!r} at start")
    return process


def _first_line(process: subprocess.Popen[bytes], fd: int, timeout: float) -> bytes:
    """The first line the hub writes; it is stopped and we raise when none comes in time."""
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            process.kill()
            process.wait()
            raise BrokerUnavailableError(f"the workers' hub did not start within {timeout:g} s")
        chunk = os.read(fd, 64)
        if not chunk:
            process.wait()
            raise BrokerUnavailableError(
                f"the workers' hub exited at start (status {process.returncode}); "
                "its error is above"
            )
        line += chunk
    return line


async def _serve(directory: str, master: int) -> None:
    hub = LocalHub(hub_path(directory))
    await hub.start()
    os.write(1, READY)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the master closed its end: a stray print must not kill us
    os.close(devnull)
    try:
        while os.getppid() == master:
            await asyncio.sleep(WATCH_INTERVAL)
    finally:
        await hub.stop()


def main(argv: list[str]) -> None:
    """``python -m flask_realtime.runtime.multiprocess.hub_process DIRECTORY MASTER_PID``."""
    directory, master = argv[0], int(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        asyncio.run(_serve(directory, master))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
