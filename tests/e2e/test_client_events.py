"""Our browser client in Chromium: emitting, acknowledgements (with timeouts and retries),
binary data, broadcasts and the listener API.

See client_support.py for how these tests run (and conftest.py for the page and server).
"""

from __future__ import annotations

from typing import Any

import pytest

from .client_support import TRANSPORTS

pytestmark = pytest.mark.e2e


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
