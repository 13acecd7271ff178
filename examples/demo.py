"""``make demo``: the three demos on one server, behind a landing page.

Runs on the embedded default: one process, no Redis. ``DEMO_PORT`` and ``DEMO_HOST``
(environment variables, default 5000 and 127.0.0.1) choose where it listens:
``make demo DEMO_PORT=8000``, or ``DEMO_PORT=8000 python examples/demo.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flask import Flask, render_template

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chat_app
import echo_app
import live_app

from flask_realtime import SocketIO


def create_app() -> tuple[Flask, SocketIO]:
    app = Flask(__name__)
    for module in (echo_app, live_app, chat_app):
        app.register_blueprint(module.blueprint)

    @app.route("/")
    def landing() -> str:
        return render_template("landing.html")

    socketio = SocketIO(app)
    echo_app.register(socketio)
    live_app.register(socketio)
    chat_app.register(socketio)
    return app, socketio


if __name__ == "__main__":
    app, socketio = create_app()
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = int(os.environ.get("DEMO_PORT", "5000"))
    print(f"flask-realtime demos on http://{host}:{port}/  (Ctrl-C to stop)")
    socketio.run(app, host=host, port=port)
