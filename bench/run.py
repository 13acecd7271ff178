"""Benchmark runner: flask-realtime side by side with its peers, in one run.

    python run.py                    # every scenario, every server, 3 repetitions
    python run.py --quick            # one short repetition of everything: a smoke test
    python run.py --scenarios echo --servers node-socketio,python-socketio --reps 5
    python run.py --list             # servers (and whether they are available), cases
    python run.py --report results/2025-01-01T120000.jsonl   # re-render a markdown report

Each server runs pinned (taskset) to the server CPUs, the load generator (loadgen.js) to the
others. Every run starts a fresh server, waits until it answers an Engine.IO handshake, runs
one load generator process (which prints one JSON line), and stops the server's process group.
Results go to results/<date>.jsonl (one JSON line per result) and results/<date>.md (tables:
median, min-max, ratio to each peer, server CPU per operation); results/latest.md is the last
full run. --quick writes to results/quick/ instead (not committed). Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
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
    role: str  # "ours" | "peer" | "ceiling"
    probe: tuple[str, ...]  # exits 0 and prints the versions when the server can run
    missing: str  # what to say when the probe fails


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

SERVERS: list[Server] = [
    Server(
        "trivial-ws",
        "ceiling",
        "trivial ws server (ceiling)",
        (NODE, "servers/trivial_ws.js"),
        ("def",),
        "ceiling",
        (NODE, "-p", "'ws ' + require('ws/package.json').version + ' / Node ' + process.version"),
        SETUP_HINT,
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
}
SCENARIOS = list(METRICS)
OP_NAME = {
    "echo": "round trip",
    "broadcast": "delivered message",
    "connections": "connection",
    "polling": "operation",
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


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        plan = Plan(
            quick=True,
            reps=1,
            echo_duration=1.5,
            warmup=0.5,
            broadcast_deliveries=20_000,
            idle_clients=(1000, 5000),
            settle=1.0,
        )
    else:
        plan = Plan(quick=False, reps=3)
    if args.reps:
        plan.reps = args.reps
    if args.duration:
        plan.echo_duration = args.duration
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


# ------------------------------------------------------------------------------------------
# processes


class StartError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def engineio_ready(port: int) -> bool:
    """True when the server answers an Engine.IO polling handshake (the session is closed)."""
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", "/socket.io/?EIO=4&transport=polling")
            resp = conn.getresponse()
            body = resp.read().decode("utf-8", "replace")
            if resp.status != 200 or not body.startswith("0{"):
                return False
            sid = json.loads(body[1:].split("\x1e")[0])["sid"]
            conn.request(
                "POST",
                f"/socket.io/?EIO=4&transport=polling&sid={sid}",
                body="1",
                headers={"Content-Type": "text/plain;charset=UTF-8"},
            )
            conn.getresponse().read()
            return True
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return False


def stop_group(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Stop a process started with start_new_session=True, and everything in its group."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group, if any
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass


def rel(path: Path) -> str:
    """The path from bench/ when it is under it, else as it is."""
    try:
        return str(path.relative_to(BENCH))
    except ValueError:
        return str(path)


def tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def start_server(
    srv: Server, cpus: str, log_path: Path, ready_timeout: float
) -> tuple[subprocess.Popen[Any], int]:
    port = free_port()
    argv = [*taskset(cpus), *srv.argv, "--host", HOST, "--port", str(port)]
    with log_path.open("ab") as log:
        log.write(f"\n=== {dt.datetime.now().isoformat()} {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            cwd=BENCH,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + ready_timeout
    try:
        while True:
            code = proc.poll()
            if code is not None:
                raise StartError(f"exited with code {code}: {tail(log_path)}")
            if engineio_ready(port):
                return proc, port
            if time.monotonic() > deadline:
                raise StartError(f"no Engine.IO handshake after {ready_timeout:.0f} s")
            time.sleep(0.1)
    except BaseException:
        stop_group(proc)
        raise


def taskset(cpus: str) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


def run_loadgen(args: dict[str, Any], cpus: str, timeout: float) -> dict[str, Any]:
    argv = [*taskset(cpus), NODE, "loadgen.js"]
    for k, v in args.items():
        argv += [f"--{k}", str(v)]
    proc = subprocess.Popen(
        argv,
        cwd=BENCH,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout + 20)
    except subprocess.TimeoutExpired:
        stop_group(proc, grace=1.0)
        proc.communicate()
        return {"ok": False, "error": f"load generator still running after {timeout + 20:.0f} s"}
    except BaseException:
        stop_group(proc, grace=1.0)
        raise
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            try:
                result: dict[str, Any] = json.loads(line)
            except ValueError:
                break
            return result
    return {
        "ok": False,
        "error": f"load generator exited {proc.returncode} without a result: {err.strip()[-300:]}",
    }


def cpu_list(spec: str) -> set[int]:
    cpus: set[int] = set()
    for part in filter(None, spec.split(",")):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


# ------------------------------------------------------------------------------------------
# the run


def probe(srv: Server) -> tuple[bool, str]:
    try:
        p = subprocess.run(
            srv.probe, cwd=BENCH, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"{srv.missing} ({e})"
    if p.returncode != 0:
        return False, srv.missing
    return True, p.stdout.strip()


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def summary_line(rec: dict[str, Any]) -> str:
    if not rec.get("ok"):
        return f"FAILED: {rec.get('error', 'unknown error')}"
    scenario = rec["scenario"]
    parts = []
    for m in METRICS[scenario]:
        v = rec.get(m.key)
        if v is not None:
            parts.append(f"{fmt(v, m.digits)} {m.label}")
    cpu = rec.get("server_cpu_us_per_op")
    if cpu is not None:
        parts.append(f"server {cpu} µs/{OP_NAME[scenario]}")
    util = rec.get("client_cpu_util")
    if util is not None:
        parts.append(f"loadgen CPU {util * 100:.0f}%")
    return ", ".join(parts)


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    if soft < needed:
        print(f"warning: open files limit {soft} < {needed}: the largest cases may fail")


def run(args: argparse.Namespace) -> int:
    plan = make_plan(args)
    cases = build_cases(plan)
    scenarios = args.scenarios.split(",") if args.scenarios else SCENARIOS
    bad = [s for s in scenarios if s not in METRICS]
    if bad:
        sys.exit(f"unknown scenario(s): {', '.join(bad)} (choose from {', '.join(SCENARIOS)})")
    cases = [c for c in cases if c.scenario in scenarios]
    if args.cases:
        cases = [c for c in cases if re.search(args.cases, c.key)]
    names = args.servers.split(",") if args.servers else [s.name for s in SERVERS]
    bad = [n for n in names if n not in SERVER_BY_NAME]
    if bad:
        sys.exit(f"unknown server(s): {', '.join(bad)} (see --list)")
    if not cases:
        sys.exit("no case selected")

    ncpu = os.cpu_count() or 1
    server_cpus, gen_cpus = args.server_cpus, args.gen_cpus
    if ncpu < 2:
        print("warning: one CPU only: server and load generator are not pinned apart")
        server_cpus = gen_cpus = ""
    elif shutil.which("taskset") is None:
        print("warning: taskset not found (util-linux): server and load generator not pinned")
        server_cpus = gen_cpus = ""
    elif gen_cpus:
        try:
            os.sched_setaffinity(0, cpu_list(gen_cpus))  # keep this runner off the server's CPU
        except OSError as e:
            print(f"warning: cannot pin the runner to CPUs {gen_cpus}: {e}")
    workers = args.workers or max(1, len(cpu_list(gen_cpus)) if gen_cpus else 1)
    raise_fd_limit(max((int(c.args["clients"]) for c in cases), default=0) + 256)
    clk_tck = os.sysconf("SC_CLK_TCK")

    servers: list[Server] = []
    versions: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name in names:
        srv = SERVER_BY_NAME[name]
        ok, info = probe(srv)
        if ok:
            servers.append(srv)
            versions[name] = info
            print(f"{name:26} {info}")
        else:
            skipped[name] = info
            print(f"{name:26} SKIPPED: {info}")
    if not servers:
        print("no server available")
        return 1

    out_dir = Path(args.out) if args.out else BENCH / "results" / ("quick" if plan.quick else "")
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    jsonl = out_dir / f"{stamp}.jsonl"
    logs = out_dir / "logs"
    logs.mkdir(exist_ok=True)
    meta = {
        "type": "meta",
        "run": stamp,
        "quick": plan.quick,
        "reps": plan.reps,
        "server_cpus": server_cpus,
        "loadgen_cpus": gen_cpus,
        "loadgen_workers": workers,
        "transport": args.transport,
        "machine": machine_info(),
        "node": subprocess.run(
            [NODE, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "versions": versions,
        "skipped": skipped,
        "argv": sys.argv[1:],
    }
    records: list[dict[str, Any]] = [meta]
    plan_runs = [
        (case, rep, srv)
        for case in cases
        for rep in range(1, plan.reps + 1)
        for srv in servers
        if case.handler is None or case.handler in srv.handlers
    ]
    print(
        f"{len(plan_runs)} runs: {len(cases)} cases x {plan.reps} reps x {len(servers)} servers; "
        f"servers on CPU {server_cpus or '-'}, load generator on CPU {gen_cpus or '-'} "
        f"({workers} worker(s)); results in {rel(jsonl)}"
    )
    start_failed: set[tuple[str, str]] = set()
    with jsonl.open("w") as f:
        f.write(json.dumps(meta) + "\n")
        f.flush()
        for i, (case, rep, srv) in enumerate(plan_runs, 1):
            head = f"[{i}/{len(plan_runs)}] {case.key:24} {srv.name:24} rep {rep}/{plan.reps}"
            rec: dict[str, Any] = {
                "type": "result",
                "run": stamp,
                "scenario": case.scenario,
                "case": case.key,
                "title": case.title,
                "server": srv.name,
                "rep": rep,
                "params": case.args,
            }
            if (case.key, srv.name) in start_failed:
                continue
            try:
                proc, port = start_server(srv, server_cpus, logs / f"{srv.name}.log", 30.0)
            except StartError as e:
                start_failed.add((case.key, srv.name))
                rec.update(ok=False, error=f"server failed to start: {e}")
            else:
                try:
                    lg_args = {
                        **case.args,
                        "port": port,
                        "server-pid": proc.pid,
                        "clk-tck": clk_tck,
                        "transport": args.transport,
                        "workers": workers,
                        "timeout": case.timeout,
                    }
                    res = run_loadgen(lg_args, gen_cpus, case.timeout)
                    alive = proc.poll() is None
                finally:
                    stop_group(proc)
                rec.update(res)
                if not alive and rec.get("ok"):
                    rec.update(ok=False, error="server exited during the run")
            print(f"{head}: {summary_line(rec)}", flush=True)
            records.append(rec)
            f.write(json.dumps(rec) + "\n")
            f.flush()

    md = render_markdown(records)
    md_path = out_dir / f"{stamp}.md"
    md_path.write_text(md)
    (out_dir / "latest.md").write_text(md)
    print(f"\nreport: {rel(md_path)} (and {rel(out_dir)}/latest.md)")
    full_default = not (plan.quick or args.scenarios or args.servers or args.cases or args.out)
    if full_default and not args.no_readme:
        update_readme(records, md_path)
        print("README.md: results summary updated")
    return 0


# ------------------------------------------------------------------------------------------
# the report


def fmt(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "—"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


@dataclass
class Cell:
    n_ok: int
    n: int
    values: dict[str, list[float]]  # metric key -> successful values
    errors: list[str]

    def median(self, key: str) -> float | None:
        vs = self.values.get(key) or []
        return statistics.median(vs) if vs else None


def collect(records: list[dict[str, Any]]) -> dict[tuple[str, str], Cell]:
    keys = {m.key for ms in METRICS.values() for m in ms} | {
        "server_cpu_us_per_op",
        "client_cpu_util",
    }
    cells: dict[tuple[str, str], Cell] = {}
    for r in records:
        if r.get("type") != "result":
            continue
        cell = cells.setdefault((r["case"], r["server"]), Cell(0, 0, {}, []))
        cell.n += 1
        if not r.get("ok"):
            cell.errors.append(str(r.get("error", "failed")))
            continue
        cell.n_ok += 1
        for k in keys:
            v = r.get(k)
            if isinstance(v, int | float):
                cell.values.setdefault(k, []).append(float(v))
    return cells


def ratio(a: float | None, b: float | None, higher_is_better: bool) -> str:
    if not a or not b:
        return "—"
    r = a / b if higher_is_better else b / a
    return f"{r:.2f}x"


def render_markdown(records: list[dict[str, Any]]) -> str:
    meta = next((r for r in records if r.get("type") == "meta"), {})
    results = [r for r in records if r.get("type") == "result"]
    cells = collect(records)
    present = list(dict.fromkeys(r["server"] for r in results))
    order = [s.name for s in SERVERS if s.name in present] + [
        n for n in present if n not in SERVER_BY_NAME
    ]
    compared = [n for n in order if SERVER_BY_NAME.get(n) and SERVER_BY_NAME[n].role != "ceiling"]
    short = {n: SERVER_BY_NAME[n].short if n in SERVER_BY_NAME else n for n in order}
    m = meta.get("machine", {})
    out: list[str] = []
    quick = (
        " (quick smoke run: one short repetition, NOT a measurement)" if meta.get("quick") else ""
    )
    out.append(f"# Benchmark results {meta.get('run', '')}{quick}\n")
    out.append(
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, Linux {m.get('kernel', '?')}. "
        f"Servers pinned to CPU {meta.get('server_cpus') or '-'}, load generator to CPU "
        f"{meta.get('loadgen_cpus') or '-'} ({meta.get('loadgen_workers', 1)} worker(s), "
        f"{meta.get('transport', 'raw')} WebSocket client), {meta.get('reps', '?')} "
        f"repetition(s) per cell, a fresh server for each. Node {meta.get('node', '?')}.\n"
    )
    if meta.get("versions"):
        out.append("Servers:\n")
        for name, v in meta["versions"].items():
            label = SERVER_BY_NAME[name].label if name in SERVER_BY_NAME else name
            out.append(f"- `{name}`: {label}: {v}")
        out.append("")
    for name, why in (meta.get("skipped") or {}).items():
        out.append(f"- `{name}`: skipped: {why}")
    if meta.get("skipped"):
        out.append("")
    out.append(
        "How to read: each cell is the median over the repetitions, with the min-max spread of "
        "the first metric. `vs X` is the ratio of this row to server X on the first metric, "
        "oriented so that **above 1 means this row is better** (more per second, or less "
        "memory). `server µs/op` is the server's CPU time (utime+stime from /proc) per round "
        "trip, delivered message, connection or polling operation: it stays comparable when "
        "the load generator, not the server, is the bottleneck, which `loadgen CPU` near 100% "
        "(marked `sat`) shows. The `trivial-ws` rows are the load generator's ceiling.\n"
    )
    out.append("## Summary (median of the first metric)\n")
    out.append("| case | " + " | ".join(short[n] for n in order) + " |")
    out.append("|---|" + "---:|" * len(order))
    case_order = list(dict.fromkeys(r["case"] for r in results))
    titles = {r["case"]: r["title"] for r in results}
    scen = {r["case"]: r["scenario"] for r in results}
    for ck in case_order:
        first = METRICS[scen[ck]][0]
        row = [f"{titles[ck]} ({first.label})"]
        for n in order:
            cell = cells.get((ck, n))
            if cell is None:
                row.append("n/a")
            elif cell.n_ok == 0:
                row.append("failed")
            else:
                row.append(fmt(cell.median(first.key), first.digits))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    for scenario in SCENARIOS:
        cks = [ck for ck in case_order if scen[ck] == scenario]
        if not cks:
            continue
        ms = METRICS[scenario]
        out.append(f"## {scenario}\n")
        header = ["case", "server", f"{ms[0].label}", "min-max"]
        header += [mm.label for mm in ms[1:]]
        header += [f"server µs/{OP_NAME[scenario]}", "loadgen CPU"]
        header += [f"vs {short[n]}" for n in compared]
        out.append("| " + " | ".join(header) + " |")
        out.append("|---|---|" + "---:|" * (len(header) - 2))
        for ck in cks:
            for n in order:
                cell = cells.get((ck, n))
                if cell is None:
                    continue
                row = [titles[ck], short[n]]
                if cell.n_ok == 0:
                    err = (cell.errors or ["failed"])[0].replace("|", "/")[:100]
                    row.append(f"failed: {err}")
                    row += [""] * (len(header) - 3)
                    out.append("| " + " | ".join(row) + " |")
                    continue
                vs = cell.values.get(ms[0].key, [])
                med = cell.median(ms[0].key)
                ok_note = "" if cell.n_ok == cell.n else f" ({cell.n_ok}/{cell.n} ok)"
                row.append(fmt(med, ms[0].digits) + ok_note)
                row.append(
                    f"{fmt(min(vs), ms[0].digits)}-{fmt(max(vs), ms[0].digits)}" if vs else "—"
                )
                row += [fmt(cell.median(mm.key), mm.digits) for mm in ms[1:]]
                cpu = cell.median("server_cpu_us_per_op")
                row.append(fmt(cpu, 1 if cpu is not None and cpu >= 10 else 2))
                util = cell.median("client_cpu_util")
                row.append(
                    "—" if util is None else f"{util * 100:.0f}%" + (" sat" if util >= 0.9 else "")
                )
                for other in compared:
                    if other == n:
                        row.append("")
                        continue
                    oc = cells.get((ck, other))
                    row.append(
                        ratio(med, oc.median(ms[0].key) if oc else None, ms[0].higher_is_better)
                    )
                out.append("| " + " | ".join(row) + " |")
        out.append("")
    return "\n".join(out)


def update_readme(records: list[dict[str, Any]], md_path: Path) -> None:
    if not README.exists():
        return
    text = README.read_text()
    if README_BEGIN not in text or README_END not in text:
        return
    md = render_markdown(records)
    summary = md.split("## Summary (median of the first metric)\n", 1)[1].split("\n## ", 1)[0]
    meta = records[0]
    block = (
        f"{README_BEGIN}\nLatest full run: {meta.get('run')}, "
        f"[{rel(md_path)}]({rel(md_path)}) "
        f"(machine: {meta.get('machine', {}).get('cpu', '?')}).\n\n{summary.strip()}\n{README_END}"
    )
    head, rest = text.split(README_BEGIN, 1)
    _, tail_ = rest.split(README_END, 1)
    README.write_text(head + block + tail_)


# ------------------------------------------------------------------------------------------


def list_all(args: argparse.Namespace) -> None:
    print("servers:")
    for srv in SERVERS:
        ok, info = probe(srv)
        print(f"  {srv.name:26} {srv.role:8} {'ok: ' + info if ok else 'SKIPPED: ' + info}")
    print("\ncases:")
    for c in build_cases(make_plan(args)):
        print(f"  {c.key:28} {c.title}")


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one short repetition: a smoke test")
    p.add_argument("--reps", type=int, default=0, help="repetitions per cell (default 3)")
    p.add_argument("--duration", type=float, default=0, help="seconds measured per echo run")
    p.add_argument("--scenarios", default="", help=f"comma-separated, of {','.join(SCENARIOS)}")
    p.add_argument("--servers", default="", help="comma-separated server names (see --list)")
    p.add_argument("--cases", default="", help="regular expression on case keys")
    p.add_argument("--server-cpus", default="0", help="taskset CPU list for the servers")
    p.add_argument("--gen-cpus", default="1", help="taskset CPU list for the load generator")
    p.add_argument("--workers", type=int, default=0, help="load generator processes")
    p.add_argument("--transport", choices=["raw", "ws"], default="raw")
    p.add_argument("--out", default="", help="results directory (default results/)")
    p.add_argument("--no-readme", action="store_true", help="do not update README.md")
    p.add_argument("--list", action="store_true", help="list servers and cases, run nothing")
    p.add_argument("--report", default="", help="re-render the markdown of a .jsonl file")
    args = p.parse_args(argv)
    # SIGTERM/SIGHUP (make interrupted, CI stopped) unwind like Ctrl-C, through the `finally`
    # blocks that stop the server and the load generator.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    if args.list:
        list_all(args)
        return 0
    if args.report:
        src = Path(args.report)
        records = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
        dst = src.with_suffix(".md")
        dst.write_text(render_markdown(records))
        print(f"report: {dst}")
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
