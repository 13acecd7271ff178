"""One server of the Redis cluster tests: ``python cluster_app.py NAME PORT REDIS_URL CHANNEL``.

Its handlers let a test drive the cluster from any client: join/leave rooms, emit to a
room or everyone, call a room, fetch sockets, emit to the other servers.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from flask import Flask, request

from flask_realtime import SocketIO, join_room, leave_room, socket_data
from flask_realtime.cluster import BroadcastAcks

name, port, redis_url, channel = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
app = Flask(name)
socketio = SocketIO(app, message_queue=redis_url, channel=channel)


@app.get("/health")
def health() -> str:
    return name


@socketio.on("whoami")
def whoami() -> dict[str, str]:
    return {"server": name, "sid": request.sid}  # type: ignore[attr-defined]


@socketio.on("set-data")
def set_data(values: dict[str, Any]) -> dict[str, Any]:
    """Store ``values`` in the socket's data (what fetch_sockets reports); the data after."""
    socket_data.update(values)
    return dict(socket_data)


@socketio.on("join")
def on_join(room: str) -> str:
    join_room(room)
    return "joined"


@socketio.on("leave")
def on_leave(room: str) -> str:
    leave_room(room)
    return "left"


@socketio.on("emit")
def on_emit(spec: dict[str, Any]) -> str:
    socketio.emit(spec["event"], *spec.get("args", []), to=spec.get("to"),
                  skip_sid=spec.get("skip"))  # fmt: skip
    return "sent"


@socketio.on("flood")
async def flood(spec: dict[str, Any]) -> int:
    """``count`` broadcasts to ``to`` in one turn of the loop (the publish queue's worst
    case: nothing is published before the last one is queued)."""
    for n in range(spec["count"]):
        socketio.emit("flood", n, to=spec.get("to"))
    return int(spec["count"])


@socketio.on("ops")
def on_ops(spec: dict[str, Any]) -> str:
    op = spec["op"]
    if op == "enter_room":
        socketio.enter_room(spec["sid"], spec["room"])
    elif op == "leave_room":
        socketio.leave_room(spec["sid"], spec["room"])
    elif op == "close_room":
        socketio.close_room(spec["room"])
    elif op == "disconnect":
        socketio.disconnect(spec["sid"])
    return "done"


@socketio.on("call-room")
def call_room(spec: dict[str, Any]) -> dict[str, Any]:
    result = socketio.call(spec["event"], spec.get("data"), to=spec["to"],
                           timeout=spec.get("timeout", 2))  # fmt: skip
    assert isinstance(result, BroadcastAcks)
    return {"responses": result.responses, "missing": result.missing,
            "missing_count": result.missing_count}  # fmt: skip


@socketio.on("call-one")
def call_one(spec: dict[str, Any]) -> Any:
    try:
        return {"answer": socketio.call(spec["event"], spec.get("data"), to=spec["to"],
                                        timeout=spec.get("timeout", 2))}  # fmt: skip
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


@socketio.on("fetch")
def fetch(spec: dict[str, Any]) -> list[dict[str, Any]]:
    found = socketio.fetch_sockets(to=spec.get("to"))
    return [{"sid": s.sid, "rooms": s.rooms} for s in found]


@socketio.on("fetch-full")
def fetch_full(spec: dict[str, Any]) -> list[dict[str, Any]]:
    found = socketio.fetch_sockets(to=spec.get("to"))
    return [
        {"sid": s.sid, "rooms": sorted(s.rooms), "data": s.data,
         "url": s.handshake.get("url"), "address": s.handshake.get("address")}
        for s in found
    ]  # fmt: skip


@socketio.on("remote")
def remote(spec: dict[str, Any]) -> str:
    """The ClusterSocket API on one socket found by fetch_sockets (on any server)."""
    found = [s for s in socketio.fetch_sockets(to=spec["sid"]) if s.sid == spec["sid"]]
    if not found:
        return "not found"
    action = spec["action"]
    if action == "emit":
        found[0].emit(spec["event"], *spec.get("args", []))
    elif action == "join":
        found[0].join_room(spec["room"])
    elif action == "leave":
        found[0].leave_room(spec["room"])
    elif action == "disconnect":
        found[0].disconnect()
    return "done"


@socketio.on("sse")
def sse(spec: dict[str, Any]) -> list[Any] | None:
    event = spec.get("event", "hello")
    if not spec.get("ack", True):
        socketio.server_side_emit(event, spec.get("data"))
        return None
    answers: list[Any] = []
    done = threading.Event()

    def callback(values: list[Any]) -> None:
        answers.extend(values)
        done.set()

    socketio.server_side_emit(event, spec.get("data"), callback=callback, timeout=3)
    done.wait(5)
    return sorted(answers)


@socketio.on_server_event("hello")
def hello(data: Any) -> str:
    socketio.emit("server-hello", {"on": name, "data": data})
    return f"hello from {name}"


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=port)
