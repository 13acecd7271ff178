"""``python -m deploy.run_workers N [port [certfile keyfile]]``: the deployment tests' app on
``socketio.run(app, workers=N)`` (port 0 by default: the announced line says which port;
HTTPS with a certificate and its key)."""

from __future__ import annotations

import sys

from deploy.deploy_app import app, socketio

if __name__ == "__main__":
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    tls = {"certfile": sys.argv[3], "keyfile": sys.argv[4]} if len(sys.argv) > 4 else {}
    socketio.run(app, host="127.0.0.1", port=port, workers=workers, use_reloader=False, **tls)
