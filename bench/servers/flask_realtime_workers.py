"""Ours on several cores: the app of flask_realtime_app.py served by ``workers=2``.

    python servers/flask_realtime_workers.py --host 127.0.0.1 --port 5000

One port, two worker processes forked by a supervisor, joined by the local hub (no Redis,
no sticky sessions: a polling request for the other worker's session is forwarded to it).
``FLASK_REALTIME_WORKERS=N`` changes the number of workers. The peer is Node's cluster
mode (node_socketio_cluster.js).
"""

import os

from flask_realtime_app import app, args, socketio

WORKERS = int(os.environ.get("FLASK_REALTIME_WORKERS", "2"))

if __name__ == "__main__":
    print(f"flask-realtime, {WORKERS} workers, on {args.host}:{args.port}", flush=True)
    socketio.run(app, host=args.host, port=args.port, log_output=False, workers=WORKERS)
