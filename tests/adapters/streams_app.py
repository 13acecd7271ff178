"""One server of the Redis Streams recovery tests:
``python streams_app.py NAME PORT REDIS_URL CHANNEL`` (``redis+streams://`` is made of
``REDIS_URL``), with connection state recovery on.

- ``GET /health``: the name; ``GET /ticks?room=&count=&every=``: a background task emits
  ``tick`` n (1..count) to ``room``, one every ``every`` seconds.
- with ``E2E_PAGE`` in the environment, ``GET /__e2e__/client.html`` serves that file (the
  browser tests' page, which must come from the server).
- ``setup`` {room, data}: joins ``room``, stores ``data`` in ``socket_data``; acks True.
- ``whoami``: acks {server, sid, data, rooms, recovered}.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from flask import Flask, request, send_file

from flask_realtime import SocketIO, is_recovered, join_room, rooms, socket_data

name, port, redis_url, channel = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
app = Flask(name)
socketio = SocketIO(
    app,
    message_queue=redis_url.replace("redis://", "redis+streams://", 1),
    channel=channel,
    connection_state_recovery={"max_disconnection_duration": 60},
)


@app.get("/health")
def health() -> str:
    return name


if os.environ.get("E2E_PAGE"):

    @app.get("/__e2e__/client.html")
    def client_page() -> Any:
        return send_file(os.environ["E2E_PAGE"], mimetype="text/html")


@app.get("/ticks")
def ticks() -> str:
    room = request.args["room"]
    count = int(request.args["count"])
    every = float(request.args["every"])

    def run() -> None:
        for n in range(1, count + 1):
            socketio.emit("tick", n, to=room)
            socketio.sleep(every)

    socketio.start_background_task(run)
    return "started"


@socketio.on("setup")
def setup(spec: dict[str, Any]) -> bool:
    join_room(spec["room"])
    socket_data.update(spec["data"])
    return True


@socketio.on("whoami")
def whoami() -> dict[str, Any]:
    return {"server": name, "sid": request.sid, "data": dict(socket_data),  # type: ignore[attr-defined]
            "rooms": sorted(rooms()), "recovered": is_recovered()}  # fmt: skip


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=port)
