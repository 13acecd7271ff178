"""One official socket.io-client socket in a Node process, driven line by line
(``tests/interop/js/relay_client.mjs``): what it saw is recorded, waits have deadlines."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from typing import Any

import pytest

from .processes import TESTS

__all__ = ["NodeSocket"]

SCRIPT = TESTS / "interop" / "js" / "relay_client.mjs"


class NodeSocket:
    """A socket.io-client socket on ``url`` (polling first, then the upgrade), reconnecting
    after a lost connection; use as a context manager."""

    def __init__(self, url: str) -> None:
        self.seen: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._acks = 0
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), url], cwd=TESTS / "interop", stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __enter__(self) -> NodeSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                seen = json.loads(line)
            except ValueError:
                seen = {"event": "output", "line": line.rstrip()}
            with self._lock:
                self.seen.append(seen)
                self._lock.notify_all()

    def command(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def emit(self, event: str, *args: Any) -> None:
        self.command(op="emit", event=event, args=list(args))

    def call(self, event: str, *args: Any, timeout: float = 10.0) -> list[Any]:
        """Emit with an acknowledgement; the ack's arguments."""
        self._acks += 1
        number = self._acks
        self.command(op="emit", event=event, args=list(args), ack=number)
        return self.wait_for("ack", timeout, lambda s: s["id"] == number)["args"]  # type: ignore[no-any-return]

    def events(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [s for s in self.seen if s["event"] == name]

    def wait_for(
        self, name: str, timeout: float = 10.0, check: Any = None, count: int = 1
    ) -> dict[str, Any]:
        """The ``count``-th ``name`` line that passes ``check``, waiting at most
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [s for s in self.seen if s["event"] == name and (check is None or check(s))]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"timed out waiting for {name!r} from the Node client: {self.seen}")
                self._lock.wait(left)

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
