"""The benchmark plan: paths, the servers table, scenarios and metrics, and the cases."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
VENV_PY = str(ROOT / ".venv" / "bin" / "python")
ENVS = BENCH / ".envs"
NODE = shutil.which("node") or "node"
HOST = "127.0.0.1"
README = BENCH / "README.md"
README_BEGIN = "<!-- results:begin -->"
README_END = "<!-- results:end -->"


# ------------------------------------------------------------------------------------------
# servers


@dataclass(frozen=True)
class Server:
    name: str
    short: str  # column header of the ratio columns
    label: str
    argv: tuple[str, ...]  # started as argv + --host H --port P, from bench/
    handlers: tuple[str, ...]  # handler kinds it implements: "def", "async"
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
        ("def", "async"),
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
        ("def", "async"),
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
        ("def", "async"),
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
        ("def", "async"),
        "peer",
        _py_versions(PS_PY, ("python-socketio", "uvicorn", "uvloop")),
        SETUP_HINT,
    ),
    Server(
        "flask-socketio-threading",
        "fs-thr",
        "Flask-SocketIO, threading",
        (FS_PY, "servers/flask_socketio_app.py", "--mode", "threading"),
        ("def",),
        "peer",
        _py_versions(FS_PY, ("flask-socketio", "simple-websocket", "werkzeug")),
        SETUP_HINT,
    ),
    Server(
        "flask-socketio-gevent",
        "fs-gev",
        "Flask-SocketIO, gevent",
        (FS_PY, "servers/flask_socketio_app.py", "--mode", "gevent"),
        ("def",),
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


# ------------------------------------------------------------------------------------------
# scenarios


@dataclass(frozen=True)
class Metric:
    key: str  # field of the load generator's JSON line
    label: str
    higher_is_better: bool
    digits: int = 0


@dataclass
class Case:
    scenario: str
    key: str  # unique, stable: the row key of the report
    title: str
    args: dict[str, Any]  # load generator options
    handler: str | None = None  # "def" | "async": servers lacking it skip the case
    timeout: float = 60.0  # the load generator's own hard deadline, seconds


METRICS: dict[str, list[Metric]] = {
    "echo": [
        Metric("rate", "round trips/s", True),
        Metric("p50_ms", "p50 ms", False, 3),
        Metric("p99_ms", "p99 ms", False, 3),
    ],
    "broadcast": [
        Metric("rate", "delivered msgs/s", True),
        Metric("time_to_last_ms", "time to last ms", False, 1),
    ],
    "connections": [
        Metric("kib_per_conn", "RSS KiB/conn", False, 1),
        Metric("connect_rate", "connects/s", True),
    ],
    "polling": [
        Metric("rate", "ops/s", True),
        Metric("p50_ms", "p50 ms", False, 3),
        Metric("p99_ms", "p99 ms", False, 3),
    ],
    "redis": [
        Metric("rate", "delivered msgs/s", True),
        Metric("time_to_first_ms", "time to first ms", False, 1),
        Metric("client_done_p50_ms", "p50 client done ms", False, 1),
        Metric("time_to_last_ms", "time to last ms", False, 1),
    ],
}
SCENARIOS = list(METRICS)
OP_NAME = {
    "echo": "round trip",
    "broadcast": "delivered message",
    "connections": "connection",
    "polling": "operation",
    "redis": "delivered message",
}


@dataclass
class Plan:
    quick: bool
    reps: int
    echo_clients: tuple[int, ...] = (1, 10, 100)
    echo_duration: float = 5.0
    warmup: float = 1.0
    broadcast_clients: tuple[int, ...] = (100, 1000, 5000)
    broadcast_deliveries: int = 100_000  # M = this / N messages, at least one
    broadcast_size: int = 64
    idle_clients: tuple[int, ...] = (1000, 10000)
    settle: float = 2.0
    polling_clients: int = 10
    size: int = 64
    redis_clients: tuple[int, ...] = (1000,)
    redis_deliveries: int = 100_000
    retries: int = 2  # runs again a closed-loop run that other processes disturbed
    quiet_wait: float = 20.0  # seconds to wait for idle CPUs before a closed-loop run


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        plan = Plan(
            quick=True,
            reps=1,
            echo_clients=(10, 100),  # one client measures latency, not the server
            echo_duration=2.0,
            warmup=1.0,
            broadcast_deliveries=20_000,
            idle_clients=(1000, 5000),
            settle=1.0,
            redis_deliveries=20_000,
        )
    else:
        plan = Plan(quick=False, reps=3)
    if args.reps:
        plan.reps = args.reps
    if args.duration:
        plan.echo_duration = args.duration
    if args.retries >= 0:
        plan.retries = args.retries
    if args.quiet_wait >= 0:
        plan.quiet_wait = args.quiet_wait
    return plan


def build_cases(plan: Plan) -> list[Case]:
    cases: list[Case] = []
    timed = plan.warmup + plan.echo_duration
    for mode in ("emit", "ack"):
        for handler in ("def", "async"):
            event = {"def": "echo", "async": "aecho"}[handler] + ("_ack" if mode == "ack" else "")
            for c in plan.echo_clients:
                cases.append(
                    Case(
                        "echo",
                        f"echo/{mode}/{handler}/c{c}",
                        f"echo {mode}, {'async def' if handler == 'async' else 'def'}, {c} cl.",
                        {
                            "scenario": "echo",
                            "mode": mode,
                            "event": event,
                            "clients": c,
                            "size": plan.size,
                            "duration": plan.echo_duration,
                            "warmup": plan.warmup,
                        },
                        handler,
                        timeout=timed + 60,
                    )
                )
    for n in plan.broadcast_clients:
        m = max(1, plan.broadcast_deliveries // n)
        cases.append(
            Case(
                "broadcast",
                f"broadcast/n{n}/m{m}",
                f"broadcast {m} msgs to {n} cl.",
                {
                    "scenario": "broadcast",
                    "clients": n,
                    "count": m,
                    "bsize": plan.broadcast_size,
                    "connect-timeout": 120,
                },
                timeout=300,
            )
        )
    for n in plan.redis_clients:
        m = max(1, plan.redis_deliveries // n)
        cases.append(
            Case(
                "redis",
                f"redis/n{n}/m{m}",
                f"broadcast through Redis, {m} msgs to {n} cl.",
                {
                    "scenario": "broadcast",
                    "clients": n,
                    "count": m,
                    "bsize": plan.broadcast_size,
                    "connect-timeout": 120,
                },
                timeout=300,
            )
        )
    for k in plan.idle_clients:
        cases.append(
            Case(
                "connections",
                f"connections/k{k}",
                f"{k} idle connections",
                {
                    "scenario": "connections",
                    "clients": k,
                    "settle": plan.settle,
                    "connect-timeout": 120,
                },
                timeout=180,
            )
        )
    for mode in ("handshake", "echo"):
        c = plan.polling_clients
        cases.append(
            Case(
                "polling",
                f"polling/{mode}/c{c}",
                f"polling {'handshakes' if mode == 'handshake' else 'echo round trips'}, {c} cl.",
                {
                    "scenario": "polling",
                    "mode": mode,
                    "event": "echo",
                    "clients": c,
                    "size": plan.size,
                    "duration": plan.echo_duration,
                    "warmup": plan.warmup,
                },
                "def",
                timeout=timed + 60,
            )
        )
    return cases
