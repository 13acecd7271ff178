"""Ours: flask-realtime with the benchmark handlers.

    python servers/flask_realtime_app.py --host 127.0.0.1 --port 5000

Written exactly as the Flask-SocketIO app (servers/flask_socketio_app.py) with the import
changed, plus the `async def` variants that flask-realtime adds (and the namespace /casync,
whose connect handler is `async def`; /cdef has a `def` one): "echo"/"echo_ack" run in a
worker thread, "aecho"/"aecho_ack" on the event loop. The broadcast loop is `async def` so that
the figure measures the fan-out, not one thread hop per message (Node and python-socketio also
emit from the loop). `--redis URL` makes it one process of a cluster (`message_queue`);
`--observed` switches the admin UI, the metrics and the connection log on (their cost).
"""

import argparse

from flask import Flask

from flask_realtime import SocketIO, emit

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=5000)
parser.add_argument("--redis", default="", help="a Redis URL: one process of a cluster")
parser.add_argument("--channel", default="flask-socketio")
parser.add_argument(
    "--observed",
    nargs="?",
    const="development",
    choices=("development", "production"),
    help="with the admin UI's server half (in this mode), Prometheus metrics and the "
    "connection log on",
)
args = parser.parse_args()

app = Flask(__name__)
socketio = SocketIO(app, message_queue=args.redis or None, channel=args.channel)
if args.observed:
    # Everything issue 16 adds, switched on, as a production server would run it.
    socketio.instrument(auth=False, mode=args.observed)
    socketio.metrics(path="/metrics")
    socketio.log_connections()


@socketio.on("echo")
def echo(data):
    emit("echo", data)


@socketio.on("aecho")
async def aecho(data):
    emit("aecho", data)


@socketio.on("echo_ack")
def echo_ack(data):
    return data


@socketio.on("aecho_ack")
async def aecho_ack(data):
    return data


# The polling handshake cases connect here: a connect handler of each kind that accepts.
@socketio.on("connect", namespace="/cdef")
def connect_def(auth=None):
    return None


@socketio.on("connect", namespace="/casync")
async def connect_async(auth=None):
    return None


@socketio.on("start_broadcast")
async def start_broadcast(opts):
    payload = "x" * int(opts["size"])
    for _ in range(int(opts["count"])):
        socketio.emit("bcast", payload)


def main() -> None:
    print(f"flask-realtime on {args.host}:{args.port}", flush=True)
    socketio.run(app, host=args.host, port=args.port, log_output=False)


if __name__ == "__main__":
    main()
