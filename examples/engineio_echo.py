"""A plain Engine.IO echo server on our runtime: every message comes back to its sender.

This is the server the official engine.io-protocol test suite expects (path ``/engine.io/``,
ping interval 300 ms, ping timeout 200 ms, port 3000), and a short example of using the
Engine.IO layer on its own, without Socket.IO or Flask.

    python examples/engineio_echo.py [port]
"""

from __future__ import annotations

import sys

from flask_realtime.engine import (
    CloseReason,
    EngineOptions,
    EngineServer,
    EngineSocket,
    OutgoingMessage,
)
from flask_realtime.runtime import EngineIOEndpoint, Server


class Echo:
    """An Engine.IO handler that sends each message back."""

    def on_open(self, socket: EngineSocket) -> None:
        pass

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
        socket.send(OutgoingMessage(data))

    def on_close(self, socket: EngineSocket, reason: CloseReason) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    engine = EngineServer(
        Echo(), EngineOptions(path="engine.io", ping_interval=0.3, ping_timeout=0.2)
    )
    server = Server(wsgi_app=None, endpoint=EngineIOEndpoint(engine), host="localhost", port=port)
    print(f"Engine.IO echo server on http://localhost:{port}/engine.io/")
    server.run()


if __name__ == "__main__":
    main()
