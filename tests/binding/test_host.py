"""The loop host: a graceful stop lets handlers in progress finish, within the grace period."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import socketio as python_socketio

APP = """
import sys, time
from pathlib import Path
from flask import Flask
from flask_realtime import SocketIO

out = Path(sys.argv[2])
app = Flask(__name__)
socketio = SocketIO(app)

@socketio.on("work")
def work(seconds):
    (out / f"started-{seconds}").touch()
    time.sleep(seconds)
    (out / f"done-{seconds}").touch()

socketio.run(app, port=int(sys.argv[1]))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(path: Path, deadline: float) -> None:
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def test_sigterm_lets_running_def_handlers_finish_and_names_those_cut(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port), str(tmp_path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    client = python_socketio.Client(reconnection=False)
    other = python_socketio.Client(reconnection=False)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.connect(f"http://127.0.0.1:{port}", transports=["websocket"])
                break
            except python_socketio.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
        other.connect(f"http://127.0.0.1:{port}", transports=["websocket"])
        client.emit("work", 1)  # finishes within the grace period (10 s)
        other.emit("work", 30)  # does not
        _wait_for(tmp_path / "started-1", time.monotonic() + 10)
        _wait_for(tmp_path / "started-30", time.monotonic() + 10)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=40)
    finally:
        for each in (client, other):
            each.disconnect()
            # python-engineio leaves its WebSocket's socket open when the server closed first.
            if each.eio.ws is not None:
                each.eio.ws.shutdown()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert (tmp_path / "done-1").exists(), "the short handler was cut"
    assert not (tmp_path / "done-30").exists()
    assert "stopped while the def handler for 'work'" in stderr
