"""Peer: Flask-SocketIO 5.x with the benchmark handlers.

    python servers/flask_socketio_app.py --mode threading --host 127.0.0.1 --port 5000
    python servers/flask_socketio_app.py --mode gevent --host 127.0.0.1 --port 5000

threading: Werkzeug's threaded server with simple-websocket (Flask-SocketIO's default when
neither eventlet nor gevent is installed). gevent: gevent's pywsgi server with gevent-websocket,
standard library monkey-patched, as Flask-SocketIO's documentation deploys it.
`--redis URL` makes it one process of a cluster (Flask-SocketIO's Redis `message_queue`).
Flask-SocketIO has no `async def` handlers: only the `def` variants are registered.
"""

import sys

MODE = "gevent" if "gevent" in sys.argv else "threading"
if MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

import argparse  # noqa: E402
import logging  # noqa: E402

from flask import Flask  # noqa: E402
from flask_socketio import SocketIO, emit  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--mode", choices=["threading", "gevent"], default="threading")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=5000)
parser.add_argument("--redis", default="", help="a Redis URL: one process of a cluster")
parser.add_argument("--channel", default="flask-socketio")
args = parser.parse_args()

app = Flask(__name__)
socketio = SocketIO(app, async_mode=MODE, logger=False, engineio_logger=False,
                    message_queue=args.redis or None, channel=args.channel)  # fmt: skip


@socketio.on("echo")
def echo(data):
    emit("echo", data)


@socketio.on("echo_ack")
def echo_ack(data):
    return data


# The polling handshake case with a connect handler connects here (it accepts).
@socketio.on("connect", namespace="/cdef")
def connect_def(auth=None):
    return None


@socketio.on("start_broadcast")
def start_broadcast(opts):
    payload = "x" * int(opts["size"])
    for _ in range(int(opts["count"])):
        socketio.emit("bcast", payload)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print(f"Flask-SocketIO ({MODE}) on {args.host}:{args.port}", flush=True)
    socketio.run(app, host=args.host, port=args.port, log_output=False, allow_unsafe_werkzeug=True)


if __name__ == "__main__":
    main()
