"""How many objects the garbage collector tracks per idle session, by type: the soak's
server (``soak_server.py``), counted before and after ``--ws`` idle WebSocket sessions
(and ``--polling`` long-polling ones) connected.

    python bench/soak_census.py --ws 500 --polling 0

Each tracked object costs every full collection that walks it (``runtime/gc_policy.py``
freezes what survives, but a session's objects are walked once as they age, and any that
are made per event each time); fewer per session, shorter pauses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from soak import server_port
from soak_clients import Http, PollingClient, raise_fd_limit, ws_connect

SERVER = str(Path(__file__).with_name("soak_server.py"))


async def census(port: int) -> tuple[Counter[str], Counter[str]]:
    """The tracked objects by type, and who holds them (see ``soak_server.py``)."""
    http = await Http.open(port)
    try:
        _, body = await http.request("GET", "/stats?census=holders")
    finally:
        http.close()
    answer = json.loads(body)
    return Counter(dict(answer["census"])), Counter(dict(answer["holders"]))


async def measure(port: int, ws: int, polling: int) -> None:
    before, held_before = await census(port)
    held: list[object] = []
    for _ in range(ws):
        held.append(await ws_connect(port, "EIO=4&transport=websocket"))
    pollers = [PollingClient(port) for _ in range(polling)]
    for poller in pollers:
        await poller.open()
    polls = [asyncio.ensure_future(poller.run()) for poller in pollers]
    await asyncio.sleep(0.5)  # their long polls wait in the server
    after, held_after = await census(port)
    sessions = ws + polling
    diff = after - before
    total = sum(diff.values())
    print(f"{sessions} sessions ({ws} WebSocket, {polling} polling): "
          f"{total} more tracked objects, {total / sessions:.1f} per session")  # fmt: skip
    for name, count in diff.most_common(25):
        print(f"  {count / sessions:6.2f}  {name}")
    print("held by (an attribute that is a tracked object):")
    for name, count in (held_after - held_before).most_common(40):
        print(f"  {count / sessions:6.2f}  {name}")
    for poller in pollers:
        poller.abandon()
    await asyncio.gather(*polls, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ws", type=int, default=500)
    parser.add_argument("--polling", type=int, default=0)
    args = parser.parse_args()
    raise_fd_limit()
    server = subprocess.Popen(
        [sys.executable, SERVER], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        port = server_port(server)
        asyncio.run(asyncio.wait_for(measure(port, args.ws, args.polling), 120))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
