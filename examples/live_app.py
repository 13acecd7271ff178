"""A live data stream: a background task publishes a value every second to every page.

Each page shows the last ten values and a chart drawn on a plain canvas (no CDN). The
value is a simulated sensor: a bounded random walk, so the chart always moves.

Run it by itself with ``python examples/live_app.py``, then open
http://127.0.0.1:5000/live/; or with the other demos through ``make demo``.
``DEMO_PORT`` and ``DEMO_HOST`` (environment variables, default 5000 and 127.0.0.1)
choose where it listens: ``DEMO_PORT=8000 python examples/live_app.py``.
"""

from __future__ import annotations

import os
import random
import time
from collections import deque
from typing import Any

from flask import Blueprint, Flask, render_template

from flask_realtime import SocketIO, emit

NAMESPACE = "/live"
blueprint = Blueprint("live", __name__, template_folder="templates", url_prefix="/live")


@blueprint.route("/")
def index() -> str:
    return render_template("live.html", namespace=NAMESPACE)


class Sensor:
    """A simulated reading between 0 and 100 that drifts a little each second."""

    def __init__(self, start: float = 50.0) -> None:
        self.value = start

    def read(self) -> float:
        self.value = max(0.0, min(100.0, self.value + random.uniform(-8, 8)))
        return round(self.value, 1)


def register(socketio: SocketIO, *, interval: float = 1.0) -> None:
    """Attach the stream's handlers; the producer starts with the first client."""
    history: deque[dict[str, Any]] = deque(maxlen=10)
    state = {"started": False}
    sensor = Sensor()

    def produce() -> None:
        while True:
            point = {"t": time.time(), "value": sensor.read()}
            history.append(point)
            socketio.emit("sample", point, namespace=NAMESPACE)
            socketio.sleep(interval)

    @socketio.on("connect", namespace=NAMESPACE)
    def on_connect() -> None:
        if not state["started"]:
            state["started"] = True
            socketio.start_background_task(produce)
        emit("history", list(history))


def create_app() -> tuple[Flask, SocketIO]:
    app = Flask(__name__)
    app.register_blueprint(blueprint)
    socketio = SocketIO(app)
    register(socketio)
    return app, socketio


if __name__ == "__main__":
    app, socketio = create_app()
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = int(os.environ.get("DEMO_PORT", "5000"))
    print(f"live data demo on http://{host}:{port}/live/  (Ctrl-C to stop)")
    socketio.run(app, host=host, port=port)
