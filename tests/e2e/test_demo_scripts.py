"""The demo scripts as a newcomer runs them: ``python examples/<script>.py``, and ``make demo``.

Each script runs in a process of its own with ``DEMO_HOST`` and ``DEMO_PORT`` set to a free
port, and its page is opened in Chromium there: a script that ignored the variables would
listen elsewhere (5000) and the page would not load. The process is stopped with SIGTERM,
as Ctrl-C would, and must end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import OpenPage

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 15.0
STOP_SECONDS = 15.0
CONNECTED = "connected (websocket)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def running(script: str, port: int) -> Iterator[str]:
    """Run ``python examples/<script>`` on ``port``; yield its base URL once it answers."""
    env = {**os.environ, "DEMO_HOST": "127.0.0.1", "DEMO_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, f"examples/{script}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(url + "/socket.io/socket.io.js", timeout=2):
                    break
            except (urllib.error.URLError, OSError) as exc:
                problem = str(exc)
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.communicate()[0]
                pytest.fail(f"{script} did not serve on {url}: {problem}\n{output}")
            time.sleep(0.1)  # a readiness poll under a deadline
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"{script} did not stop on SIGTERM")
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("script", "path", "heading"),
    [
        ("demo.py", "/", "flask-realtime demos"),
        ("echo_app.py", "/echo/", "Echo, broadcast and rooms"),
        ("live_app.py", "/live/", "Live data stream"),
        ("chat_app.py", "/chat/", "Chat"),
    ],
)
def test_each_script_serves_on_demo_port(
    open_page: OpenPage, script: str, path: str, heading: str
) -> None:
    with running(script, free_port()) as url:
        page = open_page(url + path)
        expect(page.locator("h1")).to_have_text(heading)
        expect(page.locator("#status")).to_have_text(CONNECTED)
        assert page.errors == [], page.errors


def test_make_demo_installs_the_package_without_the_dev_tools(tmp_path: Path) -> None:
    """``make demo`` in a fresh checkout: ``pip install -e .``, no ``[dev]`` extras.

    A dry run (``make -n``) with the virtual environment in an empty folder, so that no
    stamp file exists yet and make shows every step it would take.
    """
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "-n", "demo", f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    steps = result.stdout
    assert "pip install -q -e .\n" in steps, steps
    assert "[dev]" not in steps, steps
    assert f"{venv}/bin/python examples/demo.py" in steps, steps
    # The demo's stamp is its own: a later ``make test`` still installs the dev extras.
    result = subprocess.run(
        ["make", "-n", "lint", f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "pip install -q -e '.[dev]'" in result.stdout, result.stdout
