"""Echo round trips over a relayed WebSocket beside a direct one (two servers on Redis).

    ../.venv/bin/python relay_echo.py [--clients 1,20] [--seconds 10] [--redis URL]

Starts two of our servers (``servers/flask_realtime_app.py --redis``: one cluster), opens
each client's session by polling on server A, and upgrades it either on A (direct) or on B
(relayed: B carries every message to A over Redis and back). Then each client sends
``42["aecho", n]`` and waits for its echo, in a closed loop, for ``--seconds``; the figure
is round trips per second over all clients. Both servers, Redis and the clients share the
machine: nothing is pinned, so read the ratio, not the absolute rates, and only from a
quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import websockets.asyncio.client

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, redis_url: str, channel: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(HERE / "servers" / "flask_realtime_app.py"), "--port",
               str(port), "--redis", redis_url, "--channel", channel]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            open_session(port)
            return process
        except OSError:
            time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit(f"the server on port {port} did not start")


def open_session(port: int) -> str:
    """A connected Socket.IO session opened by polling on ``port``: its Engine.IO sid."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/socket.io/?EIO=4&transport=polling")
        sid = str(json.loads(conn.getresponse().read()[1:])["sid"])
        query = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
        conn.request("POST", query, b"40")
        conn.getresponse().read()
        conn.request("GET", query)
        assert conn.getresponse().read().startswith(b"40{")
        return sid
    finally:
        conn.close()


async def client(home: int, upgrade_on: int, until: float) -> int:
    """One client's round trips until ``until`` (the loop's clock)."""
    sid = await asyncio.to_thread(open_session, home)
    url = f"ws://127.0.0.1:{upgrade_on}/socket.io/?EIO=4&transport=websocket&sid={sid}"
    async with websockets.asyncio.client.connect(url, compression=None) as ws:
        await ws.send("2probe")
        assert await ws.recv() == "3probe"
        await ws.send("5")
        loop = asyncio.get_running_loop()
        count = 0
        while loop.time() < until:
            await ws.send(f'42["aecho",{count}]')
            while True:
                message = await ws.recv()
                if message == "2":
                    await ws.send("3")
                    continue
                assert message == f'42["aecho",{count}]', message
                break
            count += 1
        return count


async def measure(home: int, upgrade_on: int, clients: int, seconds: float) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time() + 1.0  # sessions open during the first second
    until = started + seconds
    counts = await asyncio.gather(*(client(home, upgrade_on, until) for _ in range(clients)))
    return sum(counts) / (loop.time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,20")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    channel = f"relay-bench-{uuid.uuid4().hex[:8]}"
    a_port, b_port = free_port(), free_port()
    servers = [start_server(a_port, args.redis, channel), start_server(b_port, args.redis, channel)]
    try:
        print("| clients | direct (upgrade on A) rt/s | relayed (upgrade on B) rt/s | ratio |")
        print("|---|---|---|---|")
        for clients in (int(n) for n in args.clients.split(",")):
            direct = asyncio.run(measure(a_port, a_port, clients, args.seconds))
            relayed = asyncio.run(measure(a_port, b_port, clients, args.seconds))
            print(f"| {clients} | {direct:,.0f} | {relayed:,.0f} | {relayed / direct:.2f} |")
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)


if __name__ == "__main__":
    main()
