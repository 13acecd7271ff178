"""Our browser client (src/flask_realtime/static/socket.io.js) in Chromium, against a real server.

Each test runs one script in a fresh page (see conftest.py for the page, the
server contract and what the lead wires). Waits inside the page have their own
deadlines (``e2e.next``, ``e2e.within``), so a missing event fails with its
name rather than hanging; pytest-timeout bounds the rest.
"""

from __future__ import annotations

import re
import socket
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import OpenPage
from .contract_app import PAGE_PATH, PAGE_READY
from .live_server import LiveServer

pytestmark = pytest.mark.e2e

TRANSPORTS = {
    "websocket": ["websocket"],
    "polling": ["polling"],
    "upgrade": ["polling", "websocket"],
}
SOCKET_IO_URL = re.compile(r"/socket\.io/\?")
TRANSPORT_LOST = {"transport close", "transport error"}
"""The disconnect reasons after which the client reconnects by itself."""


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_classic_script_defines_global_io(page: Any) -> None:
    result = page.evaluate(
        """() => ({
            io: typeof io, Manager: typeof io.Manager, Socket: typeof io.Socket,
            self: io.io === io, connect: io.connect === io,
        })"""
    )
    assert result == {
        "io": "function",
        "Manager": "function",
        "Socket": "function",
        "self": True,
        "connect": True,
    }


def test_module_build_exports_io_manager_socket(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const m = await import("/socket.io/socket.io.esm.js");
            const s = m.io({ autoConnect: false });
            return {
                default: m.default === m.io, connect: m.connect === m.io,
                manager: s.io instanceof m.Manager, socket: s instanceof m.Socket,
                separate: m.io !== window.io,
            };
        }"""
    )
    assert result == dict.fromkeys(("default", "connect", "manager", "socket", "separate"), True)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_emit_round_trip(page: Any, transport: str) -> None:
    result = page.evaluate(
        """async (transports) => {
            const s = await e2e.connect({ transports, forceNew: true });
            const got = e2e.next(s, "echo");
            const nested = { nested: { list: [1, "two"] } };
            s.emit("echo", "text", 42, 1.5, true, null, nested, "ünï ✓ 😀");
            const args = await got;
            const result = {
                args, id: typeof s.id, connected: s.connected, disconnected: s.disconnected,
                active: s.active, recovered: s.recovered, engineId: typeof s.io.engine.id,
            };
            s.disconnect();
            return result;
        }""",
        TRANSPORTS[transport],
    )
    assert result == {
        "args": ["text", 42, 1.5, True, None, {"nested": {"list": [1, "two"]}}, "ünï ✓ 😀"],
        "id": "string",
        "connected": True,
        "disconnected": False,
        "active": True,
        "recovered": False,
        "engineId": "string",
    }


def test_upgrade_from_polling_to_websocket(page: Any) -> None:
    polls: list[str] = []
    sockets: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if SOCKET_IO_URL.search(r.url) else None)
    page.on("websocket", lambda ws: sockets.append(ws.url))
    result = page.evaluate(
        """async () => {
            const s = io({ forceNew: true });
            const engine = s.io.engine;
            const first = engine.transport.name;
            const upgraded = e2e.next(engine, "upgrade");
            await e2e.next(s, "connect");
            const [transport] = await upgraded;
            const got = e2e.next(s, "echo");
            s.emit("echo", "after upgrade");
            const [echo] = await got;
            const result = {
                first, upgraded: transport.name, now: engine.transport.name, echo, sid: engine.id,
            };
            s.disconnect();
            return result;
        }"""
    )
    assert result["first"] == "polling"
    assert result["upgraded"] == result["now"] == "websocket"
    assert result["echo"] == "after upgrade"
    assert len(sockets) == 1
    ws_query = query_of(sockets[0])
    assert ws_query["EIO"] == ["4"]
    assert ws_query["transport"] == ["websocket"]
    assert ws_query["sid"] == [result["sid"]]
    assert polls, "no long-polling request was seen"
    stamps = []
    for url in polls:
        query = query_of(url)
        assert query["EIO"] == ["4"]
        assert query["transport"] == ["polling"]
        stamps += query["t"]
    assert len(stamps) == len(polls) == len(set(stamps)), "each poll needs its own t"


def test_websocket_only_never_polls(page: Any) -> None:
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if SOCKET_IO_URL.search(r.url) else None)
    transport = page.evaluate(
        """async () => {
            const s = await e2e.connect({ transports: ["websocket"], forceNew: true });
            return s.io.engine.transport.name;
        }"""
    )
    assert transport == "websocket"
    assert polls == []


@pytest.mark.parametrize("options", [{"transports": ["polling"]}, {"upgrade": False}])
def test_polling_without_upgrade_answers_pings(page: Any, options: dict[str, Any]) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    result = page.evaluate(
        """async (options) => {
            const s = await e2e.connect({ ...options, forceNew: true });
            await e2e.collect(s.io, "ping", 2, 5000);  // the server pings every second
            return { transport: s.io.engine.transport.name, connected: s.connected };
        }""",
        options,
    )
    assert result == {"transport": "polling", "connected": True}
    assert sockets == []


def test_acknowledgements(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const s = await e2e.connect({ forceNew: true });
            const multi = await e2e.ack((cb) => s.emit("ack", 1, "two", { three: 3 }, cb));
            const single = await s.emitWithAck("ack", "only");
            const none = await e2e.ack((cb) => s.emit("ack", cb));
            s.disconnect();
            return { multi, single, none };
        }"""
    )
    assert result == {"multi": [1, "two", {"three": 3}], "single": "only", "none": []}


def test_acknowledgement_timeouts(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const s = await e2e.connect({ forceNew: true });
            // Late acks take 500 ms: a server may handle one client's events one at a
            // time, so what follows can wait behind them; deadlines allow for it.
            const late = await e2e.ack((cb) => s.timeout(100).emit("slow_ack", 500, "late", cb));
            const inTime = await e2e.ack((cb) => s.timeout(3000).emit("slow_ack", 10, "ok", cb));
            let rejected = null;
            try {
                await s.timeout(100).emitWithAck("slow_ack", 500, "x");
            } catch (err) {
                rejected = err.message;
            }
            const d = await e2e.connect({ forceNew: true, ackTimeout: 100 });
            const byOption = await e2e.ack((cb) => d.emit("slow_ack", 500, "late", cb));
            const pending = e2e.ack((cb) => s.timeout(5000).emit("slow_ack", 500, "never", cb));
            s.disconnect();
            const [cut] = await pending;
            d.disconnect();
            return {
                late: late.map((x) => (x instanceof Error ? x.message : x)),
                inTime, rejected, byOption: byOption[0].message, cut: cut.message,
            };
        }"""
    )
    assert result == {
        "late": ["operation has timed out"],
        "inTime": [None, "ok"],
        "rejected": "operation has timed out",
        "byOption": "operation has timed out",
        "cut": "socket has been disconnected",
    }


def test_retries_send_in_order_and_give_up(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const s = await e2e.connect({ forceNew: true, retries: 2, ackTimeout: 3000 });
            const order = [];
            const queued = (i) => e2e.ack((cb) => {
                s.emit("slow_ack", 60 - 20 * i, i, (...args) => {
                    order.push(i);
                    cb(...args);
                });
            });
            const acks = await Promise.all([1, 2, 3].map(queued));
            const start = Date.now();
            const [err] = await e2e.ack((cb) => s.timeout(100).emit("slow_ack", 400, "late", cb));
            const gaveUpAfter = Date.now() - start;
            const direct = await s.emitWithAck("ack", "via the queue");
            s.disconnect();
            return { order, acks, err: err.message, gaveUpAfter, direct };
        }"""
    )
    # Queued emits go one at a time, so acks arrive in emit order even when later ones are
    # faster; the late one is tried 1 + 2 times, 100 ms each, then reported.
    assert result["order"] == [1, 2, 3]
    assert result["acks"] == [[None, 1], [None, 2], [None, 3]]
    assert result["err"] == "operation has timed out"
    assert 300 <= result["gaveUpAfter"] < 3000
    assert result["direct"] == "via the queue"


def test_client_acknowledges_server_event(page: Any) -> None:
    answer = page.evaluate(
        """async () => {
            const s = await e2e.connect({ forceNew: true });
            s.on("question", (data, cb) => cb(data + "!", 2));
            const answer = e2e.next(s, "answer");
            s.emit("ask", "why");
            const [args] = await answer;
            s.disconnect();
            return args;
        }"""
    )
    assert answer == ["why!", 2]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_binary_round_trip(page: Any, transport: str) -> None:
    result = page.evaluate(
        """async (transports) => {
            const s = await e2e.connect({ transports, forceNew: true });
            const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
            const view = new Uint8Array([9, 9, 7, 8, 9, 9]).subarray(2, 4);
            const blob = new Blob([new Uint8Array([10, 20, 30])]);
            const got = e2e.next(s, "echo");
            s.emit("echo", bytes.buffer, { nested: [bytes, { deep: blob }], text: "mixed" },
                   view, new Uint16Array([1, 65535]), "plain");
            const echoed = await got;
            const big = new Uint8Array(70000).map((_, i) => (i * 7) % 256);
            const [back, text] = await e2e.ack((cb) => s.emit("ack", big, "text", cb));
            const same = back instanceof ArrayBuffer && back.byteLength === big.length &&
                new Uint8Array(back).every((b, i) => b === big[i]);
            const blobAck = await s.emitWithAck("ack", blob);
            s.disconnect();
            return { echoed: e2e.describe(echoed), same, text, blobAck: e2e.describe(blobAck) };
        }""",
        TRANSPORTS[transport],
    )

    def buf(*values: int) -> dict[str, Any]:
        return {"binary": "ArrayBuffer", "bytes": list(values)}

    assert result["echoed"] == [
        buf(0, 1, 2, 253, 254, 255),
        {"nested": [buf(0, 1, 2, 253, 254, 255), {"deep": buf(10, 20, 30)}], "text": "mixed"},
        buf(7, 8),
        buf(1, 0, 255, 255),
        "plain",
    ]
    assert result["same"] is True
    assert result["text"] == "text"
    assert result["blobAck"] == buf(10, 20, 30)


def test_namespaces_share_one_connection(page: Any) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    result = page.evaluate(
        """async () => {
            const root = await e2e.connect({ transports: ["websocket"] });
            const chat = await e2e.connect("/chat");
            const shared = root.io === chat.io;
            const where = await chat.emitWithAck("whereami");
            const got = e2e.next(chat, "echo");
            chat.emit("echo", "in chat");
            const [echoed] = await got;
            chat.disconnect();
            const stillOpen = root.io.engine.readyState === "open" && root.connected;
            const rootEcho = e2e.next(root, "echo");
            root.emit("echo", "root");
            const [rootEchoed] = await rootEcho;
            const again = io("/chat", { autoConnect: false });
            const forced = io({ forceNew: true, autoConnect: false });
            const unmultiplexed = io("/chat2", { multiplex: false, autoConnect: false });
            const engineClosed = e2e.next(root.io.engine, "close");
            root.disconnect();
            const [closed] = await engineClosed;
            return {
                shared, where, echoed, stillOpen, rootEchoed,
                nsp: chat.nsp,
                againNew: again.io !== root.io, forcedNew: forced.io !== root.io,
                unmultiplexedNew: unmultiplexed.io !== root.io,
                closed,
            };
        }"""
    )
    assert result == {
        "shared": True,
        "where": "/chat",
        "echoed": "in chat",
        "stillOpen": True,
        "rootEchoed": "root",
        "nsp": "/chat",
        "againNew": True,
        "forcedNew": True,
        "unmultiplexedNew": True,
        "closed": "forced close",
    }
    assert len(sockets) == 1, "both namespaces should share one WebSocket"


def test_auth_query_and_extra_headers(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const a = await e2e.connect({ forceNew: true, auth: { token: "good", user: "ann" },
                                          query: { foo: "bar" } });
            const whoA = await a.emitWithAck("whoami");
            const b = await e2e.connect("/?room=7", {
                forceNew: true, transports: ["polling"], extraHeaders: { "X-E2E": "yes" },
                auth: (cb) => setTimeout(() => cb({ token: "from a function" }), 10),
            });
            const whoB = await b.emitWithAck("whoami");
            const result = { whoA, whoB, idA: a.id, idB: b.id };
            a.disconnect();
            b.disconnect();
            return result;
        }"""
    )
    who_a, who_b = result["whoA"], result["whoB"]
    assert who_a["sid"] == result["idA"]
    assert who_a["auth"] == {"token": "good", "user": "ann"}
    assert who_a["query"]["foo"] == "bar"
    assert who_b["sid"] == result["idB"]
    assert who_b["auth"] == {"token": "from a function"}
    assert who_b["query"]["room"] == "7"
    assert who_b["header"] == "yes"


def test_connect_error_carries_data_and_stops(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const s = io({ forceNew: true, auth: { token: "bad" } });
            const [err] = await e2e.next(s, "connect_error");
            const refused = {
                message: err.message, data: err.data, active: s.active, connected: s.connected,
                reconnecting: s.io._reconnecting,
            };
            s.auth = { token: "good" };
            const back = e2e.next(s, "connect");
            s.connect();
            await back;
            s.disconnect();
            return refused;
        }"""
    )
    assert result == {
        "message": "unauthorized",
        "data": {"code": 4001},
        "active": False,
        "connected": False,
        "reconnecting": False,
    }


def test_server_disconnect_is_final_until_connect(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const s = await e2e.connect({ forceNew: true });
            const gone = e2e.next(s, "disconnect");
            s.emit("disconnect_me");
            const [reason] = await gone;
            const after = {
                reason, active: s.active, connected: s.connected, id: s.id === undefined,
                reconnecting: s.io._reconnecting,
            };
            const back = e2e.next(s, "connect");
            s.connect();
            await back;
            after.back = s.connected;
            s.disconnect();
            return after;
        }"""
    )
    assert result == {
        "reason": "io server disconnect",
        "active": False,
        "connected": False,
        "id": True,
        "reconnecting": False,
        "back": True,
    }


def test_client_disconnect_closes_and_reconnects_on_demand(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const s = await e2e.connect({ forceNew: true });
            const firstId = s.id;
            const closed = e2e.next(s.io, "close");
            const gone = e2e.next(s, "disconnect");
            s.close();
            const [reason] = await gone;
            const [managerReason] = await closed;
            const state = { reason, managerReason, active: s.active, connected: s.connected };
            const back = e2e.next(s, "connect");
            s.open();
            await back;
            state.newId = s.id !== firstId;
            s.disconnect();
            return state;
        }"""
    )
    assert result == {
        "reason": "io client disconnect",
        "managerReason": "forced close",
        "active": False,
        "connected": False,
        "newId": True,
    }


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_reconnects_after_transport_close_and_flushes_buffer(page: Any, transport: str) -> None:
    result = page.evaluate(
        """async (transports) => {
            const s = await e2e.connect({ transports, forceNew: true, reconnectionDelay: 100,
                                          reconnectionDelayMax: 200 });
            const firstId = s.id;
            const attempts = [];
            s.io.on("reconnect_attempt", (n) => attempts.push(n));
            const gone = e2e.next(s, "disconnect");
            const reconnected = e2e.next(s.io, "reconnect");
            s.emit("drop");
            const [reason] = await gone;
            const activeWhileDown = s.active;
            s.volatile.emit("echo", "volatile");  // dropped: not connected
            s.emit("echo", "buffered");            // sent once reconnected
            const echoed = e2e.next(s, "echo");
            const back = e2e.next(s, "connect");
            const [attempt] = await reconnected;
            await back;
            const [value] = await echoed;
            const newId = s.id !== firstId;
            const result = { reason, activeWhileDown, attempt, attempts, value, newId };
            s.disconnect();
            return result;
        }""",
        TRANSPORTS[transport],
    )
    assert result == {
        "reason": "transport close",
        "activeWhileDown": True,
        "attempt": 1,
        "attempts": [1],
        "value": "buffered",
        "newId": True,
    }


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_reconnects_after_server_restart(
    contract_server: LiveServer, open_page: OpenPage, transport: str
) -> None:
    page = open_page(contract_server.url + PAGE_PATH, PAGE_READY)
    first_id = page.evaluate(
        """async (transports) => {
            const s = await e2e.connect({ transports, forceNew: true, reconnectionDelay: 100,
                                          reconnectionDelayMax: 300 });
            const reasons = [];
            s.on("disconnect", (reason) => reasons.push(reason));
            // Set up now, awaited after the restart (the deadline covers the restart).
            const reconnected = e2e.next(s.io, "reconnect", 20000);
            reconnected.catch(() => {});  // reported when awaited
            window.restart = { s, reasons, reconnected };
            return s.id;
        }""",
        TRANSPORTS[transport],
    )
    contract_server.restart()  # a graceful stop, then the same port again
    result = page.evaluate(
        """async () => {
            const { s, reasons, reconnected } = window.restart;
            const [attempts] = await reconnected;
            const got = e2e.next(s, "echo");
            s.emit("echo", "after restart");
            const [value] = await got;
            return {
                reasons, attempts: attempts >= 1, id: s.id, value, connected: s.connected,
                transport: s.io.engine.transport.name,
            };
        }"""
    )
    # The client must see the transport lost (so it reconnects by itself), never "io server
    # disconnect". A long-polling client whose GET is parked hears the Engine.IO CLOSE
    # ("transport close"); one caught between two GETs (a ping had just been answered) only
    # learns it from its next request failing ("transport error").
    expected = {"transport close"} if transport == "websocket" else TRANSPORT_LOST
    assert len(result["reasons"]) == 1
    assert result["reasons"][0] in expected, result
    assert result["attempts"] is True
    assert result["id"] != first_id
    assert result["value"] == "after restart"
    assert result["connected"] is True
    assert result["transport"] == transport


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_reconnection_gives_up_after_attempts(page: Any, transport: str) -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    events = page.evaluate(
        """async ([url, transports]) => {
            const s = io(url, { transports, reconnectionAttempts: 2, reconnectionDelay: 50,
                                reconnectionDelayMax: 100 });
            const events = [];
            for (const name of ["reconnect_attempt", "reconnect_error", "reconnect_failed"]) {
                s.io.on(name, (x) => events.push(name + (typeof x === "number" ? " " + x : "")));
            }
            s.on("connect_error", () => events.push("connect_error"));
            await e2e.next(s.io, "reconnect_failed", 5000);
            return events;
        }""",
        [dead, TRANSPORTS[transport]],
    )
    assert events == [
        "connect_error",
        "reconnect_attempt 1",
        "connect_error",
        "reconnect_error",
        "reconnect_attempt 2",
        "connect_error",
        "reconnect_failed",
        "reconnect_error",
    ]


def test_connect_timeout(page: Any) -> None:
    # Engine.IO requests are never answered, as if the server hung. (A failed request
    # would report "xhr poll error"; only the connect timer reports "timeout".)
    page.route(re.compile(r"/socket\.io/\?"), lambda route: None)
    message = page.evaluate(
        """async () => {
            const s = io({ transports: ["polling"], timeout: 300, reconnection: false });
            const [err] = await e2e.next(s, "connect_error", 3000);
            return err.message;
        }"""
    )
    assert message == "timeout"


def test_ping_timeout_when_server_pings_stop(page: Any) -> None:
    # Between page and server: answer the server's pings here, and do not pass
    # them on, so the server stays content while the page hears no heartbeat.
    def relay(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if message == "2":
                server.send("3")
            else:
                ws.send(message)

        server.on_message(from_server)
        ws.on_message(server.send)

    page.route_web_socket(re.compile(r"/socket\.io/\?"), relay)
    page.reload()  # so that the page's WebSocket is the routed one from the start
    result = page.evaluate(
        """async () => {
            const s = await e2e.connect({ transports: ["websocket"], reconnection: false });
            const start = Date.now();
            const [reason] = await e2e.next(s, "disconnect", 8000);
            return { reason, elapsed: Date.now() - start };
        }"""
    )
    assert result["reason"] == "ping timeout"
    # pingInterval + pingTimeout = 3 s from the handshake
    assert 2000 <= result["elapsed"] <= 6000, result


def test_polling_writes_fit_max_payload(page: Any) -> None:
    posts: list[int] = []
    page.on(
        "request",
        lambda r: (
            posts.append(len(r.post_data_buffer or b""))
            if r.method == "POST" and SOCKET_IO_URL.search(r.url)
            else None
        ),
    )
    result = page.evaluate(
        """async () => {
            const s = io({ transports: ["polling"], forceNew: true, autoConnect: false });
            const chunk = "x".repeat(30000);
            for (let i = 0; i < 8; i++) s.emit("echo", i, chunk);  // 240 kB buffered while offline
            const all = e2e.collect(s, "echo", 8, 10000);
            s.connect();
            const got = await all;
            const result = { order: got.map((a) => a[0]), sizes: got.map((a) => a[1].length) };
            s.disconnect();
            return result;
        }"""
    )
    assert result == {"order": list(range(8)), "sizes": [30000] * 8}
    assert max(posts) <= 100000
    assert sum(size > 60000 for size in posts) >= 2, f"writes were not batched: {posts}"


def test_broadcast_reaches_every_client(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const a = await e2e.connect({ forceNew: true, transports: ["websocket"] });
            const b = await e2e.connect({ forceNew: true, transports: ["polling"] });
            const atA = e2e.next(a, "broadcast");
            const atB = e2e.next(b, "broadcast");
            a.emit("broadcast", { hello: "all" });
            const [[x], [y]] = await Promise.all([atA, atB]);
            a.disconnect();
            b.disconnect();
            return [x, y];
        }"""
    )
    assert result == [{"hello": "all"}, {"hello": "all"}]


def test_listener_api(page: Any) -> None:
    result = page.evaluate(
        """async () => {
            const s = await e2e.connect({ forceNew: true });
            const order = [];
            const any = (event, ...args) => order.push(["any", event, ...args]);
            s.onAny(any);
            s.prependAny((event) => order.push(["prepended", event]));
            s.once("echo", (v) => order.push(["once", v]));
            const on = (v) => order.push(["on", v]);
            s.on("echo", on);
            const listening = s.listeners("echo").length;
            let got = e2e.collect(s, "echo", 2);
            s.emit("echo", 1);
            s.compress(false).emit("echo", 2);
            await got;
            s.off("echo", on);
            s.offAny(any);
            got = e2e.next(s, "echo");
            s.emit("echo", 3);
            await got;
            const anyLeft = s.listenersAny().length;
            s.offAny();
            const message = e2e.next(s, "message");
            s.send("hi");
            const [sent] = await message;
            let reserved = null;
            try {
                s.emit("connect");
            } catch (err) {
                reserved = err.message;
            }
            const anyAfter = s.listenersAny().length;
            const result = { order, listening, anyLeft, anyAfter, sent, reserved };
            s.disconnect();
            return result;
        }"""
    )
    assert result == {
        "order": [
            ["prepended", "echo"],
            ["any", "echo", 1],
            ["once", 1],
            ["on", 1],
            ["prepended", "echo"],
            ["any", "echo", 2],
            ["on", 2],
            ["prepended", "echo"],
        ],
        "listening": 2,
        "anyLeft": 1,
        "anyAfter": 0,
        "sent": "hi",
        "reserved": '"connect" is a reserved event name',
    }
