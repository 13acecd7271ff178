"""Helpers of the cluster tests: server processes, python-socketio and JS clients, Node's
socket.io server and emitter."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import socketio as pysio

from support.pysio import in_order

HERE = Path(__file__).resolve().parent
INTEROP = HERE.parent / "interop"
ROOT = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_channel() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


class ServerProcess:
    """``cluster_app.py`` (or another ``script`` taking the same arguments) in a
    subprocess, on a free port."""

    def __init__(
        self, name: str, redis_url: str, channel: str, tmp: Path, script: str = "cluster_app.py"
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"server-{name}.log"
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(HERE / script),
                name,
                str(self.port),
                redis_url,
                channel,
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=_env(),
        )
        wait_until(self._ready, f"server {name} to listen", 20)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            self._out.close()
            pytest.fail(f"server {self.name} exited:\n{self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()


class PyClient:
    """A python-socketio client that records every event it gets."""

    def __init__(self, url: str, answer: Any = None) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.lock = threading.Lock()
        self.client = in_order(pysio.Client(reconnection=False))
        self.disconnected = threading.Event()

        @self.client.on("*")
        def any_event(event: str, *args: Any) -> Any:
            with self.lock:
                self.events.append((event, args))
            return answer(*args) if answer is not None else None

        @self.client.event
        def disconnect(*_: Any) -> None:
            self.disconnected.set()

        self.client.connect(url, transports=["websocket"], wait_timeout=10)

    @property
    def sid(self) -> str:
        return str(self.client.get_sid())

    def got(self, event: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [args for name, args in self.events if name == event]

    def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        return self.client.call(event, data, timeout=timeout)

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()


class JsClients:
    """Official socket.io-client sockets in one Node process (js/cluster_client.mjs)."""

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        if shutil.which("node") is None or not (INTEROP / "node_modules").is_dir():
            pytest.fail("node and tests/interop/node_modules are required (make setup)")
        self.lines: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["node", str(INTEROP / "js" / "cluster_client.mjs"), json.dumps(specs)],
            cwd=INTEROP,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.sids = {
            spec["id"]: wait_until(lambda i=spec["id"]: self._sid(i), f"JS client {spec['id']}")
            for spec in specs
        }

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                with self.lock:
                    self.lines.append(json.loads(line))

    def _sid(self, ident: str) -> str | None:
        with self.lock:
            for line in self.lines:
                if line["id"] == ident and line["event"] == "connect":
                    return str(line["sid"])
        return None

    def got(self, ident: str, event: str) -> list[Any]:
        with self.lock:
            return [
                line.get("args", line.get("reason"))
                for line in self.lines
                if line["id"] == ident and line["event"] == event
            ]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _require_node() -> None:
    if shutil.which("node") is None or not (INTEROP / "node_modules" / "socket.io").is_dir():
        pytest.fail("node and tests/interop/node_modules are required (make setup)")


class NodeServer:
    """Node's socket.io 4.8 with ``@socket.io/redis-adapter`` (js/redis_node_server.mjs),
    driven by JSON commands on its stdin."""

    def __init__(self, redis_url: str, channel: str, tmp: Path) -> None:
        _require_node()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[dict[str, Any]] = []
        self.other: list[str] = []
        self.lock = threading.Lock()
        self._n = 0
        self.proc = subprocess.Popen(
            [
                "node",
                str(INTEROP / "js" / "redis_node_server.mjs"),
                str(self.port),
                redis_url,
                channel,
            ],
            cwd=INTEROP,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        wait_until(lambda: self._events("listening") or self._died(), "the Node server", 20)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.lock:
                if line.startswith("{"):
                    self.lines.append(json.loads(line))
                else:
                    self.other.append(line)

    def _died(self) -> bool:
        if self.proc.poll() is not None:
            time.sleep(0.2)
            pytest.fail(f"the Node server exited:\n{''.join(self.other)[-3000:]}")
        return False

    def _events(self, event: str) -> list[dict[str, Any]]:
        with self.lock:
            return [line for line in self.lines if line.get("event") == event]

    def server_events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self._events("server-event") if e["name"] == name]

    def command(self, op: str, timeout: float = 10, **args: Any) -> Any:
        """Run ``op`` in the Node server and return its result."""
        self._n += 1
        n = self._n
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"n": n, "op": op, **args}) + "\n")
        self.proc.stdin.flush()

        def reply() -> dict[str, Any] | None:
            self._died()
            with self.lock:
                return next((line for line in self.lines if line.get("reply") == n), None)

        answer = wait_until(reply, f"the Node server's answer to {op}", timeout)
        if "error" in answer:
            pytest.fail(f"the Node server failed {op}: {answer['error']}")
        return answer["result"]

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def run_node_emitter(redis_url: str, channel: str, operations: list[dict[str, Any]]) -> None:
    """Node's ``@socket.io/redis-emitter`` (js/redis_node_emitter.mjs) runs ``operations``."""
    _require_node()
    done = subprocess.run(
        [
            "node",
            str(INTEROP / "js" / "redis_node_emitter.mjs"),
            redis_url,
            channel,
            json.dumps(operations),
        ],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done" in done.stdout, done.stdout + done.stderr
