"""Our browser client in Chromium, recovering across servers on Redis Streams: two of our
servers (``tests/adapters/streams_app.py``) behind a TCP proxy; the page and its socket
come through the proxy from the first; while the second broadcasts ticks to the client's
room, the first is killed (SIGKILL) and the proxy sends the next connection to the
second. The client comes back ``recovered`` with its id and every tick once, in order.

See client_support.py for how these tests run.
"""

from __future__ import annotations

import os
import signal
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from adapters.redis_support import ServerProcess, unique_channel
from support.tcp_proxy import TcpProxy

from .contract_app import PAGE, PAGE_PATH, PAGE_READY

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.timeout(90)]

COUNT = 120
CUT_AFTER = 30
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

SCRIPT = """async (spec) => {
    const s = io({ forceNew: true, transports: ["websocket"], reconnectionDelay: 50,
                   reconnectionDelayMax: 200, randomizationFactor: 0 });
    const ticks = [];
    const connects = [];
    let cutSeen;
    const cut = new Promise((resolve) => { cutSeen = resolve; });
    s.on("tick", (n) => { ticks.push(n); if (n === spec.cutAfter) cutSeen(); });
    s.on("connect", () => connects.push({ id: s.id, recovered: s.recovered }));
    await e2e.next(s, "connect");
    await e2e.ack((cb) => s.emit("setup", { room: "browser", data: { user: "chromium" } }, cb));
    window.failover = { socket: s, ticks, connects, cut };
    return connects[0].id;
}"""

WAIT_ALL = """async (count) => {
    const { ticks, connects } = window.failover;
    await e2e.within(new Promise((resolve) => {
        const check = () => ticks.length && ticks[ticks.length - 1] >= count
            ? resolve() : setTimeout(check, 10);
        check();
    }), 15000, "the last tick");
    return { ticks, connects };
}"""


def _redis_answers() -> bool:
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1):
            return True
    except OSError:
        return False


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ServerProcess]]:
    if not _redis_answers():
        message = f"Redis is not reachable at {REDIS_URL}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the Redis tests must run)")
        pytest.skip(message)
    monkeypatch.setenv("E2E_PAGE", str(PAGE))
    channel = unique_channel()
    started: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            started.append(ServerProcess(name, REDIS_URL, channel, tmp_path, "streams_app.py"))
        yield started
    finally:
        for server in started:
            server.stop()


def test_the_browser_client_recovers_on_another_server_after_a_sigkill(
    open_page: Any, servers: list[ServerProcess]
) -> None:
    a, b = servers
    proxy = TcpProxy(a.port).start()
    try:
        page = open_page(proxy.url + PAGE_PATH, PAGE_READY)
        first_id = page.evaluate(SCRIPT, {"cutAfter": CUT_AFTER})
        with urllib.request.urlopen(f"{b.url}/ticks?room=browser&count={COUNT}&every=0.01") as r:
            assert r.read() == b"started"
        page.evaluate("() => e2e.within(window.failover.cut, 10000, 'the cut tick')")
        proxy.retarget(b.port)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(5)
        proxy.cut(pause=0.3)
        result = page.evaluate(WAIT_ALL, COUNT)
        (whoami,) = page.evaluate(
            "() => e2e.ack((cb) => window.failover.socket.emit('whoami', cb))"
        )
        page.evaluate("() => window.failover.socket.disconnect()")
        assert page.errors == []
    finally:
        proxy.stop()
    assert result["connects"] == [
        {"id": first_id, "recovered": False},
        {"id": first_id, "recovered": True},
    ]
    assert result["ticks"] == list(range(1, COUNT + 1))
    assert whoami == {
        "server": "b",
        "sid": first_id,
        "data": {"user": "chromium"},
        "rooms": sorted([first_id, "browser"]),
        "recovered": True,
    }
