"""The README's nginx recipes, with a real nginx in front of real servers.

- **Without ip_hash**: nginx in front of one ``socketio.run(app, workers=3)``: nginx opens
  a new upstream connection per request, so a session's requests reach any worker, and the
  workers route them (no stickiness needed).
- **In front of two separate servers** (as on two machines), joined by Redis, with
  ``ip_hash`` (each client is sent to one server) and without it (the servers forward
  polling requests for each other's sessions over Redis): a broadcast reaches the
  clients of both.

nginx is started by the test on a free port with a generated configuration.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .clients import Recorder
from .cluster_checks import JS_POLLING_CLIENT, NODE
from .processes import ServerProcess
from .test_run_workers import run_workers

pytestmark = pytest.mark.timeout(120)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ONE_SERVER = r"Socket\.IO on http://127\.0\.0\.1:(\d+) \(press"

LOCATION = """
        location / {
            proxy_pass http://socketio_nodes;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 60s;
        }
"""


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


class Nginx:
    """nginx in the foreground with ``upstream`` and the README's location block."""

    def __init__(self, tmp_path: Path, upstream: str) -> None:
        if not Path(NGINX).exists():
            pytest.fail("nginx is not installed (apt-get install -y nginx)")
        self.port = free_port()
        root = tmp_path / "nginx"
        root.mkdir()
        (root / "logs").mkdir()
        conf = root / "nginx.conf"
        conf.write_text(
            f"""
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream socketio_nodes {{
{upstream}
    }}
    server {{
        listen 127.0.0.1:{self.port};
{LOCATION}
    }}
}}
"""
        )
        self.process = subprocess.Popen(
            [NGINX, "-p", str(root), "-c", str(conf)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (root / "logs" / "error.log").read_text(errors="replace")
                    pytest.fail(f"nginx did not start: {log}")
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def nginx_before_workers(tmp_path: Path) -> Iterator[tuple[Nginx, ServerProcess]]:
    with run_workers(tmp_path, 3).start() as server:
        nginx = Nginx(tmp_path, f"        server 127.0.0.1:{server.port};")
        try:
            yield nginx, server
        finally:
            nginx.close()


def test_without_ip_hash_in_front_of_workers(
    nginx_before_workers: tuple[Nginx, ServerProcess],
) -> None:
    nginx, server = nginx_before_workers
    count = 30
    command = ["node", "--input-type=module", "-e", JS_POLLING_CLIENT, nginx.url, str(count)]
    node = subprocess.run(
        command, cwd=NODE, capture_output=True, text=True, timeout=60, check=False
    )
    assert node.returncode == 0, node.stdout + node.stderr
    seen = json.loads(node.stdout.strip().splitlines()[-1])
    assert seen["got"] == list(range(count))
    polling = Recorder(nginx.url, ["polling"])
    upgraded = Recorder(nginx.url, ["polling", "websocket"])
    try:
        for number in range(count):
            polling.client.emit("echo", number)
        assert [r["data"] for r in polling.wait_for("echo", count)] == list(range(count))
        deadline = time.monotonic() + 10
        while upgraded.client.transport() != "websocket":
            assert time.monotonic() < deadline, "no upgrade through nginx"
            time.sleep(0.05)
        assert upgraded.call("join", "lobby") == "lobby"
        assert polling.call("join", "lobby") == "lobby"
        polling.client.emit("to_room", ("lobby", "through nginx"))
        assert upgraded.wait_for("room_message") == ["through nginx"]
    finally:
        polling.close()
        upgraded.close()
    assert "Session ID unknown" not in server.log()


@pytest.mark.parametrize("ip_hash", [True, False])
def test_in_front_of_two_servers_on_redis(tmp_path: Path, ip_hash: bool) -> None:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    channel = f"nginx-test-{os.getpid()}-{time.monotonic_ns()}"
    servers = []
    for name in ("a", "b"):
        command = [sys.executable, "-m", "deploy.run_workers", "1", "0"]
        process = ServerProcess(
            command, tmp_path / f"{name}.log", ONE_SERVER,
            env={"DEPLOY_MESSAGE_QUEUE": redis_url, "DEPLOY_CHANNEL": channel},
        )  # fmt: skip
        servers.append(process.start())
    a, b = servers
    # Without ip_hash nginx sends each request to the next server: the servers forward
    # polling requests for each other's sessions over Redis.
    upstream = ("        ip_hash;\n" if ip_hash else "") + (
        f"        server 127.0.0.1:{a.port};\n        server 127.0.0.1:{b.port};"
    )
    try:
        nginx = Nginx(tmp_path, upstream)
    except BaseException:  # the servers stop too (no process left to the next test)
        for server in servers:
            server.close()
        raise
    try:
        through = Recorder(nginx.url, ["polling"])
        direct = [Recorder(a.url, ["websocket"]), Recorder(b.url, ["websocket"])]
        try:
            for number in range(20):
                through.client.emit("echo", number)
            assert [r["data"] for r in through.wait_for("echo", 20)] == list(range(20))
            through.client.emit("announce", "to both servers")
            for client in (through, *direct):
                assert client.wait_for("news") == ["to both servers"]
        finally:
            through.close()
            for client in direct:
                client.close()
    finally:
        nginx.close()
        for server in servers:
            server.close()
    for server in servers:
        assert "Session ID unknown" not in server.log()
