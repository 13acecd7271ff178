"""Our browser client in Chromium: connection state recovery. The page and its socket go
through a TCP proxy (``support.tcp_proxy``) that the server of
``tests/interop/recovery_app.py`` cuts while it keeps broadcasting; the client comes back
``recovered`` with its id, and every event exactly once, in order. Past the window it
gets a new session.

See client_support.py for how these tests run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from interop.recovery_app import RecoveryServer

from .contract_app import PAGE, PAGE_PATH, PAGE_READY

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

COUNT = 120
CUT_AFTER = 30

SCRIPT = """async (spec) => {
    const s = io({ forceNew: true, transports: spec.transports, reconnectionDelay: 50,
                   reconnectionDelayMax: 100, randomizationFactor: 0 });
    const ticks = [];
    const connects = [];
    s.on("tick", (n, offset) => ticks.push([n, typeof offset]));
    s.on("connect", () => connects.push({ id: s.id, recovered: s.recovered }));
    await e2e.next(s, "connect");
    const ack = (...args) => e2e.ack((cb) => s.emit(...args, cb));
    const room = "room-" + spec.proxy;
    await ack("setup", { room, data: { user: "browser" } });
    const disconnected = e2e.next(s, "disconnect", 10000);
    s.emit("ticks", { room, count: spec.count, every: 0.01, cut_after: spec.cutAfter,
                      pause: spec.pause, proxy: spec.proxy });
    const [reason] = await disconnected;
    await e2e.next(s, "connect", 10000);
    if (spec.waitAll) {
        await e2e.within(new Promise((resolve) => {
            const check = () => ticks.length && ticks[ticks.length - 1][0] >= spec.count
                ? resolve() : setTimeout(check, 10);
            check();
        }), 10000, "the last tick");
    }
    const [whoami] = await ack("whoami");
    s.disconnect();
    return { reason, connects, ticks: ticks.map((t) => t[0]),
             offsets: [...new Set(ticks.map((t) => t[1]))], whoami };
}"""


def _server(window: float) -> RecoveryServer:
    return RecoveryServer(
        page=(PAGE_PATH, PAGE),
        connection_state_recovery={"max_disconnection_duration": window},
        ping_interval=0.3,
        ping_timeout=0.3,
    ).start()


@pytest.fixture(scope="module")
def within() -> Iterator[RecoveryServer]:
    server = _server(120)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def short() -> Iterator[RecoveryServer]:
    server = _server(0.5)
    yield server
    server.stop()


def _run(open_page: Any, server: RecoveryServer, name: str, transports: list[str],
         pause: float, wait_all: bool) -> dict[str, Any]:  # fmt: skip
    proxy = server.proxy(name)
    page = open_page(proxy.url + PAGE_PATH, PAGE_READY)
    result: dict[str, Any] = page.evaluate(
        SCRIPT,
        {"transports": transports, "count": COUNT, "cutAfter": CUT_AFTER, "pause": pause,
         "proxy": name, "waitAll": wait_all},
    )  # fmt: skip
    assert page.errors == []
    return result


@pytest.mark.parametrize(
    ("transports", "pause"),
    [(["websocket"], 0.5), (["polling"], 1.5)],
    ids=["websocket", "polling"],
)
def test_the_browser_client_recovers_every_event_once_in_order(
    open_page: Any, within: RecoveryServer, transports: list[str], pause: float
) -> None:
    name = "browser-" + transports[0]
    result = _run(open_page, within, name, transports, pause, wait_all=True)
    first, second = result["connects"]
    assert first["recovered"] is False
    assert second == {"id": first["id"], "recovered": True}
    assert result["ticks"] == list(range(1, COUNT + 1))
    assert result["offsets"] == ["string"]
    assert result["whoami"] == {
        "sid": first["id"],
        "data": {"user": "browser"},
        "rooms": sorted([first["id"], f"room-{name}"]),
        "recovered": True,
    }
    assert len(within.recorder.events("tick-while-cut", name)) >= 10


def test_past_the_window_the_browser_client_gets_a_new_session(
    open_page: Any, short: RecoveryServer
) -> None:
    result = _run(open_page, short, "browser-expired", ["websocket"], 1.5, wait_all=False)
    first, second = result["connects"]
    assert second["recovered"] is False
    assert second["id"] != first["id"]
    assert result["whoami"] == {
        "sid": second["id"],
        "data": {},
        "rooms": [second["id"]],
        "recovered": False,
    }
