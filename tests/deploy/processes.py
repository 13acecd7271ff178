"""Real server processes for the deployment tests: started, awaited, always cleaned up.

:class:`ServerProcess` runs one command (gunicorn, waitress, uvicorn) in a new process
group from ``tests/``, with its output in a file; :meth:`~ServerProcess.wait_for_log`
waits on a pattern with a deadline (the port is read from the server's own "listening"
line, so port 0 picks a free one without a race), and :meth:`~ServerProcess.close` ends the
whole group: SIGTERM, then SIGKILL after a deadline.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import pytest

TESTS = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

__all__ = ["BIN", "ServerProcess", "gunicorn_command"]


def gunicorn_command(*args: str) -> list[str]:
    """``gunicorn`` with the options every test wants (no control socket: tests run in
    parallel and would share its default path)."""
    import gunicorn.config

    extra = (
        ["--no-control-socket"]
        if "control_socket_disable" in gunicorn.config.KNOWN_SETTINGS
        else []
    )
    return [str(BIN / "gunicorn"), *extra, *args]


class ServerProcess:
    """One server process (see the module docstring).

    Args:
        command: the command line.
        log: the file its stdout and stderr go to.
        listening: a regular expression with one group, the port, matched on the log.
        env: more environment variables.
        cwd: where it runs (``tests/`` by default).
    """

    def __init__(
        self,
        command: list[str],
        log: Path,
        listening: str,
        env: dict[str, str] | None = None,
        cwd: Path = TESTS,
    ) -> None:
        self.command = command
        self.log_path = log
        self.listening = re.compile(listening)
        self.port = 0
        self._file = log.open("wb")
        environ = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(TESTS), **(env or {}))
        self.process = subprocess.Popen(
            command, cwd=cwd, stdout=self._file, stderr=subprocess.STDOUT, env=environ,
            start_new_session=True,
        )  # fmt: skip

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def start(self, timeout: float = 20.0) -> ServerProcess:
        """Wait until the server says where it listens (the port is read from that line)."""
        match = self.wait_for_log(self.listening, timeout)
        self.port = int(match.group(1))
        return self

    def wait_for_log(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.log())
            if found:
                return found
            if self.process.poll() is not None and not regex.search(self.log()):
                pytest.fail(f"{self.command[0]} exited ({self.process.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout} s waiting for {regex.pattern!r}:\n{self.log()}"
                )
            time.sleep(0.05)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the server's main process."""
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """The exit status, waiting at most ``timeout`` seconds (fails the test after)."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.command[0]} still running after {timeout} s:\n{self.log()}")

    def close(self) -> None:
        """End the process group: SIGTERM, then SIGKILL after 10 s; close the log."""
        try:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(5)
            # Workers that outlived their master (they should not) go too.
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        finally:
            self._file.close()
