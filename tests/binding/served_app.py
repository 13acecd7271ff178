"""An app served by ``socketio.run()`` in the main thread of its own process, for
``test_serving_processes.py``: ``python served_app.py [files CERT KEY | context CERT KEY]``.

It prints what its handlers do (one line each, flushed), so the test can read from the
process's output what ran and how it ended:

- ``echo`` data: acknowledges with ``data``.
- ``slow`` seconds: prints ``slow started <sid>``, sleeps, prints ``slow finished <sid>``
  and acknowledges with ``"done"``: a handler in progress when a signal arrives.
- ``frozen``: acknowledges with how many objects the cyclic collector no longer walks
  (``gc.get_freeze_count()``: run() freezes what start-up made once it listens).
- ``switch_interval``: acknowledges with the GIL's switch interval (run() sets it).
- disconnect(reason): prints ``disconnect <sid> <reason>``.
- After ``socketio.run()`` returns: ``run returned``.
"""

from __future__ import annotations

import gc
import ssl
import sys
import time
from typing import Any

from flask import Flask, request

from flask_realtime import SocketIO

app = Flask(__name__)
socketio = SocketIO(app)


@app.get("/")
def index() -> str:
    return "served"


@socketio.on("echo")
def on_echo(data: Any) -> Any:
    return data


@socketio.on("slow")
def on_slow(seconds: float) -> str:
    print("slow started", request.sid, flush=True)
    time.sleep(seconds)
    print("slow finished", request.sid, flush=True)
    return "done"


@socketio.on("frozen")
def on_frozen() -> int:
    return gc.get_freeze_count()


@socketio.on("switch_interval")
def on_switch_interval() -> float:
    return sys.getswitchinterval()


@socketio.on("disconnect")
def on_disconnect(reason: str) -> None:
    print("disconnect", request.sid, reason, flush=True)


def tls_options(argv: list[str]) -> dict[str, Any]:
    if not argv:
        return {}
    how, cert, key = argv
    if how == "files":
        return {"certfile": cert, "keyfile": key}
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return {"ssl_context": context}


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=0, **tls_options(sys.argv[1:]))
    print("run returned", flush=True)
