"""The benchmark plan: paths, scenarios and metrics, and the cases (the servers are in
``servers.py``)."""

from __future__ import annotations

import argparse
import shutil
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
    # "def" | "async" (event handlers), "connect-def" | "connect-async" (a namespace's
    # connect handler): servers lacking it skip the case
    handler: str | None = None
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
    for scenario, clients, deliveries, label in (
        ("broadcast", plan.broadcast_clients, plan.broadcast_deliveries, "broadcast"),
        ("redis", plan.redis_clients, plan.redis_deliveries, "broadcast through Redis,"),
    ):
        for n in clients:
            m = max(1, deliveries // n)
            cases.append(
                Case(
                    scenario,
                    f"{scenario}/n{n}/m{m}",
                    f"{label} {m} msgs to {n} cl.",
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
    # Polling: whole sessions (open, namespace connect, close) and echo round trips. The
    # handshakes run three ways: to "/" without a connect handler, and to a namespace with a
    # `def` or an `async def` connect handler (what an app with a connect handler pays: a
    # thread hop for `def`); servers without that handler kind skip the case.
    for key, mode, nsp, handler, title in (
        ("handshake", "handshake", "/", "def", "polling handshakes"),
        ("handshake-def", "handshake", "/cdef", "connect-def",
         "polling handshakes, def connect handler"),
        ("handshake-async", "handshake", "/casync", "connect-async",
         "polling handshakes, async def connect handler"),
        ("echo", "echo", "/", "def", "polling echo round trips"),
    ):  # fmt: skip
        c = plan.polling_clients
        cases.append(
            Case(
                "polling",
                f"polling/{key}/c{c}",
                f"{title}, {c} cl.",
                {
                    "scenario": "polling",
                    "mode": mode,
                    "event": "echo",
                    "nsp": nsp,
                    "clients": c,
                    "size": plan.size,
                    "duration": plan.echo_duration,
                    "warmup": plan.warmup,
                },
                handler,
                timeout=timed + 60,
            )
        )
    return cases
