"""Processes: starting and stopping the servers and the load generator, taskset, readiness,
and what the run needs to know about the machine."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from .plan import BENCH, HOST, NODE
from .servers import Server

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
    srv: Server, cpus: str, log_path: Path, ready_timeout: float, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[Any], int]:
    port = free_port()
    argv = [*taskset(cpus), *srv.argv, "--host", HOST, "--port", str(port), *extra]
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


def start_redis(cpus: str, log_path: Path) -> tuple[subprocess.Popen[Any], str]:
    """A private redis-server for the "redis" scenario (no persistence), pinned with the
    servers; returns it and its URL."""
    port = free_port()
    argv = [
        *taskset(cpus),
        "redis-server",
        "--port",
        str(port),
        "--bind",
        HOST,
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            cwd=BENCH,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"redis-server exited: {tail(log_path)}")
        try:
            with socket.create_connection((HOST, port), 0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://{HOST}:{port}/0"
        except OSError:
            pass
        time.sleep(0.1)
    stop_group(proc)
    raise StartError("redis-server did not answer within 10 s")


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


def cpu_busy(cpus: set[int], interval: float = 0.5) -> float:
    """The busiest of `cpus` over `interval` seconds: fraction of its time not idle (/proc/stat)."""

    def read() -> dict[int, tuple[int, int]]:
        out: dict[int, tuple[int, int]] = {}
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                v = [int(x) for x in fields[:8]]
                out[int(name[3:])] = (sum(v) - v[3] - v[4], sum(v))
        return out

    a = read()
    time.sleep(interval)
    b = read()
    fracs = [(b[c][0] - a[c][0]) / (b[c][1] - a[c][1]) for c in a if c in b and b[c][1] > a[c][1]]
    return max(fracs, default=0.0)


def wait_for_quiet(cpus: set[int], limit: float, threshold: float = 0.15) -> float:
    """Wait (at most `limit` seconds) until no CPU of `cpus` is busier than `threshold`; return
    the busiest CPU's load at the last look, so that the caller can note a run started busy."""
    deadline = time.monotonic() + limit
    while True:
        try:
            busy = cpu_busy(cpus)
        except OSError:
            return 0.0
        if busy <= threshold or time.monotonic() >= deadline:
            return busy
        time.sleep(1.0)
