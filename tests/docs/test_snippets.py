"""Every Python block of the user-facing pages runs (see snippets.py for which pages).

Programs run to completion in a fresh interpreter (test modules under pytest); servers run
on a free port, answer an Engine.IO handshake and serve the browser client (and their
client block, when they have one, runs against them), then stop on SIGTERM. The pages
write Redis as ``redis://redis.internal:6379/0`` and RabbitMQ as
``amqp://user:secret@rabbit.internal:5672//``; the tests put the local ones there
(REDIS_URL, AMQP_URL).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from support.requirements import missing, opted_out

from .snippets import GUIDE_PAGES, PAGES, Block, blocks_of

HERE = Path(__file__).resolve().parent
BLOCKS = [block for page in PAGES for block in blocks_of(page)]
RUNNABLE = [block for block in BLOCKS if block.kind != "fragment"]
# Fragments are not run: keep them few. Today: the Redis Cluster and TLS URLs of
# deployment.md (the tests have no Redis Cluster and no Redis with TLS).
MAX_FRAGMENTS = 1
BROKERS = {  # as the pages write them: the local ones the tests use
    "redis://redis.internal:6379/0": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    "amqp://user:secret@rabbit.internal:5672//": os.environ.get(
        "AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"
    ),
}
NEEDS = {"redis://redis.internal": "redis", "amqp://user:secret@rabbit.internal": "rabbitmq"}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _local(code: str) -> str:
    for written, local in BROKERS.items():
        code = code.replace(written, local)
    return code


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write(tmp_path: Path, block: Block, name: str = "app.py") -> Path:
    path = tmp_path / name
    path.write_text(_local(block.code), encoding="utf-8")
    return path


def _fail(block: Block, what: str, out: str) -> None:
    pytest.fail(f"{block.id}: {what}\n--- code ---\n{block.code}--- output ---\n{out}")


def test_the_pages_have_blocks() -> None:
    assert [p.name for p in PAGES if not p.exists()] == []
    for page in GUIDE_PAGES:
        if page.name != "index.md":
            assert any(b.page == page and b.kind != "fragment" for b in BLOCKS), page.name
    fragments = [b.id for b in BLOCKS if b.kind == "fragment"]
    assert len(fragments) <= MAX_FRAGMENTS, fragments


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_snippet_runs(block: Block, tmp_path: Path) -> None:
    for written, what in NEEDS.items():
        if written in block.code and opted_out(what):
            missing(what, f"{block.id} uses it")  # skips, naming the variable
    app = _write(tmp_path, block)
    if block.kind == "program":
        # A test module (it defines tests) runs under pytest, any other program by itself.
        command = [sys.executable, str(app)]
        if "\ndef test_" in block.code:
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(app)]
        done = subprocess.run(
            command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=45,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            _fail(block, f"exited with {done.returncode}", done.stdout + done.stderr)
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, str(HERE / "run_server_snippet.py"), str(port), str(app)],
            cwd=tmp_path, env=_env(), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_serving(block, server, url, log)
        if block.client is not None:
            code = _local(block.client.code).replace("http://127.0.0.1:5000", url)
            client = tmp_path / "client.py"
            client.write_text(code, encoding="utf-8")
            done = subprocess.run(
                [sys.executable, str(client)], cwd=tmp_path, env=_env(),
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                _fail(block.client, "the client failed", done.stdout + done.stderr)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
            _fail(block, "did not stop within 20 s of SIGTERM", log.read_text())
    if code != 0:
        _fail(block, f"the server exited with {code}", log.read_text())


def _wait_until_serving(block: Block, server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        if server.poll() is not None:
            _fail(block, f"the server exited with {server.returncode}", log.read_text())
        try:
            handshake = requests.get(f"{url}/socket.io/?EIO=4&transport=polling", timeout=5)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                _fail(block, "the server did not listen within 20 s", log.read_text())
            time.sleep(0.1)
    assert handshake.status_code == 200, handshake.text
    assert handshake.text.startswith("0{"), handshake.text
    script = requests.get(f"{url}/socket.io/socket.io.js", timeout=5)
    assert script.status_code == 200
    assert "io" in script.text
