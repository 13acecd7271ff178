"""The servers the benchmark can start: ours, the peers, the ceiling and the lean reference,
each with how to start it, which handler kinds it has, and how to read its versions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .plan import ENVS, NODE, VENV_PY

if TYPE_CHECKING:
    from .plan import Case


@dataclass(frozen=True)
class Server:
    name: str
    short: str  # column header of the ratio columns
    label: str
    argv: tuple[str, ...]  # started as argv + --host H --port P, from bench/
    # handler kinds it implements: "def", "async" (event handlers), "connect-def",
    # "connect-async" (connect handlers of the namespaces /cdef and /casync)
    handlers: tuple[str, ...]
    role: str  # "ours" | "peer" | "ceiling" | "reference"
    probe: tuple[str, ...]  # exits 0 and prints the versions when the server can run
    missing: str  # what to say when the probe fails
    cluster: int = 0  # processes on one Redis (+ --redis URL --channel KEY); 0: standalone


def runs_case(srv: Server, case: Case) -> bool:
    """Standalone servers run every scenario but "redis", which only clusters run."""
    if (case.scenario == "redis") != (srv.cluster > 0):
        return False
    return case.handler is None or case.handler in srv.handlers


def _py_versions(py: str, dists: Iterable[str]) -> tuple[str, ...]:
    names = ", ".join(repr(d) for d in dists)
    code = (
        "import importlib.metadata as m, sys; "
        f"print(' '.join(f'{{d}} {{m.version(d)}}' for d in ({names},)), "
        "'/ Python', sys.version.split()[0])"
    )
    return (py, "-c", code)


FS_PY = str(ENVS / "flask-socketio" / "bin" / "python")
PS_PY = str(ENVS / "python-socketio" / "bin" / "python")
SETUP_HINT = "its environment is not installed: run `make -C bench setup`"


def _observed(mode: str) -> Server:
    """Ours with instrument(mode=...), metrics() and log_connections() on: what they cost."""
    return Server(
        "flask-realtime-observed" + ("" if mode == "development" else "-prod"),
        "ours+obs" + ("" if mode == "development" else "-p"),
        f'flask-realtime with instrument(mode="{mode}"), metrics(), log_connections()',
        (VENV_PY, "servers/flask_realtime_app.py", "--observed", mode),
        ("def", "async", "connect-def", "connect-async"),
        "ours",
        _py_versions(VENV_PY, ("flask-realtime", "prometheus_client")),
        "prometheus_client is not installed in ../.venv (run `make setup` at the top)",
    )


SERVERS: list[Server] = [
    Server(
        "trivial-ws",
        "ceiling",
        "trivial server (ceiling): the same bytes, WebSocket frames by hand on Node's sockets",
        (NODE, "servers/trivial_ws.js"),
        ("def",),
        "ceiling",
        (NODE, "-p", "'no library / Node ' + process.version"),
        SETUP_HINT,
    ),
    Server(
        "lean-echo",
        "lean",
        "lean reference: minimal Socket.IO echo on uvloop, httptools, websockets, orjson",
        (VENV_PY, "servers/lean_echo.py"),
        ("def", "async"),
        "reference",
        _py_versions(VENV_PY, ("uvloop", "httptools", "websockets", "orjson")),
        "its libraries are not installed in ../.venv (run `make setup` at the top)",
    ),
    Server(
        "flask-realtime",
        "ours",
        "flask-realtime (ours)",
        (VENV_PY, "servers/flask_realtime_app.py"),
        ("def", "async", "connect-def", "connect-async"),
        "ours",
        (
            VENV_PY,
            "-c",
            "import importlib.metadata as m, sys, flask_realtime; flask_realtime.SocketIO; "
            "print('flask-realtime', m.version('flask-realtime'), '/ Python', "
            "sys.version.split()[0])",
        ),
        "not available yet (`import flask_realtime; flask_realtime.SocketIO` fails)",
    ),
    _observed("development"),
    _observed("production"),
    Server(
        "node-socketio",
        "node",
        "Node socket.io",
        (NODE, "servers/node_socketio.js"),
        ("def", "async", "connect-def", "connect-async"),
        "peer",
        (
            NODE,
            "-p",
            "'socket.io ' + require('socket.io/package.json').version + ' / Node ' + "
            "process.version",
        ),
        SETUP_HINT,
    ),
    Server(
        "python-socketio",
        "py-sio",
        "python-socketio AsyncServer + uvicorn",
        (PS_PY, "servers/python_socketio_asgi.py"),
        ("def", "async", "connect-def", "connect-async"),
        "peer",
        _py_versions(PS_PY, ("python-socketio", "uvicorn", "uvloop")),
        SETUP_HINT,
    ),
    Server(
        "flask-socketio-threading",
        "fs-thr",
        "Flask-SocketIO, threading",
        (FS_PY, "servers/flask_socketio_app.py", "--mode", "threading"),
        ("def", "connect-def"),
        "peer",
        _py_versions(FS_PY, ("flask-socketio", "simple-websocket", "werkzeug")),
        SETUP_HINT,
    ),
    Server(
        "flask-socketio-gevent",
        "fs-gev",
        "Flask-SocketIO, gevent",
        (FS_PY, "servers/flask_socketio_app.py", "--mode", "gevent"),
        ("def", "connect-def"),
        "peer",
        _py_versions(FS_PY, ("flask-socketio", "gevent", "gevent-websocket")),
        SETUP_HINT,
    ),
]
_BASE = {s.name: s for s in SERVERS}
_OURS_PROBE = _BASE["flask-realtime"].probe


def _cluster(
    n: int, name: str, short: str, label: str, base: Server, probe: tuple[str, ...], missing: str
) -> Server:
    return Server(
        f"{name}-redis-{n}",
        f"{short}x{n}",
        f"{label}, {n} on Redis",
        base.argv,
        base.handlers,
        base.role,
        probe,
        missing,
        cluster=n,
    )


SERVERS += [
    *(
        _cluster(
            n,
            "flask-realtime",
            "ours",
            "flask-realtime",
            _BASE["flask-realtime"],
            _OURS_PROBE,
            _BASE["flask-realtime"].missing,
        )
        for n in (1, 2, 3)
    ),
    _cluster(
        2,
        "node-socketio",
        "node",
        "Node socket.io + @socket.io/redis-adapter",
        _BASE["node-socketio"],
        (
            NODE,
            "-p",
            "'socket.io ' + require('socket.io/package.json').version + "
            "' / @socket.io/redis-adapter ' + "
            "require('@socket.io/redis-adapter/package.json').version + ' / Node ' + "
            "process.version",
        ),
        SETUP_HINT,
    ),
    _cluster(
        2,
        "flask-socketio-gevent",
        "fs-gev",
        "Flask-SocketIO, gevent, Redis queue",
        _BASE["flask-socketio-gevent"],
        _py_versions(FS_PY, ("flask-socketio", "gevent", "redis")),
        SETUP_HINT,
    ),
]
# Several cores on one port without a broker: ours with workers=2 beside Node's cluster mode.
SERVERS += [
    Server(
        "flask-realtime-workers-2",
        "oursx2w",
        "flask-realtime, run(workers=2)",
        (VENV_PY, "servers/flask_realtime_workers.py"),
        ("def", "async"),
        "ours",
        _OURS_PROBE,
        SERVERS[1].missing,
    ),
    Server(
        "node-socketio-cluster-2",
        "nodex2c",
        "Node socket.io cluster mode (@socket.io/sticky + cluster-adapter), 2 workers",
        (NODE, "servers/node_socketio_cluster.js"),
        ("def", "async"),
        "peer",
        (
            NODE,
            "-p",
            "'socket.io ' + require('socket.io/package.json').version + "
            "' / @socket.io/cluster-adapter ' + "
            "require('@socket.io/cluster-adapter/package.json').version + "
            "' / @socket.io/sticky ' + require('@socket.io/sticky/package.json').version + "
            "' / Node ' + process.version",
        ),
        SETUP_HINT,
    ),
]
SERVER_BY_NAME = {s.name: s for s in SERVERS}
