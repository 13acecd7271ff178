"""Soak and churn: many idle clients, a churn of every kind of connect and disconnect, and
one good client whose echo latency is sampled, against one flask-realtime process.

    python bench/soak.py --ws 15000 --polling 2000 --churn-seconds 300 --churn-rate 100

Three kinds of process: the server (``soak_server.py``: a Flask app with an echo
handler, ``socketio.run``), client processes (``soak_clients.py``: each holds its share of
idle WebSocket and long-polling sessions, answering heartbeats, and runs its share of the
churn) and this one, which starts them, keeps one good client echoing every 10 ms, and
samples once a second: the server's RSS, open fds, live Engine.IO sessions, its full
(gen-2) garbage collections and their longest pause, and the good client's echo
p50/p99/max. Every client speaks the wire protocol itself (asyncio, no client library),
so the client side stays cheap.

The server's app has an echo handler and, as most apps do, a ``def`` disconnect handler
(``SOAK_NO_DISCONNECT_HANDLER=1`` leaves it out). It runs with the garbage collector's
policy of ``socketio.run()`` (``runtime/gc_policy.py``; ``--no-gc-freeze`` turns it
off). When the client processes exit at the end (together, on the conductor's cue
5 s after the last one's churn), every session they held ends at once
(the mass disconnect; ``--polite-leave``: each WebSocket sends "41" and a close frame
first, as a browser tab that closes does).

The summary gives, per phase (the ramp, the churn, the hold after it, the mass
disconnect): the full collections, how many paused over 20 ms and the longest, and the
good client's echo (the median of the per-second p99s, the seconds whose p99 was over
20 ms, the p99 and the max of all its echoes). At four points (before any client, all
clients connected, the churn done, the end) it reads the server's RSS, fds, sessions,
its heap (pymalloc's blocks) and what is frozen (``gc.get_freeze_count()``, which walks
what it counts: a few ms of the server's time, so it is not read every second).

To see inside a pause: ``--gc-detail`` prints each full collection over 5 ms (the
generations' sizes and the references they hold at its start, counted outside the pause;
what it collected; its thread and CPU time) and the most CPU time one took per phase;
``--sample-loop`` samples where the loop's thread is every 2 ms and how late it runs a
callback, printed for each second whose slowest echo took over 50 ms. ``--loop-turns``
times the server's loop turns on the loop itself (a 1 ms timer, and how long it went
between two runs): the longest per second and per phase, beside the server's CPU
seconds per phase (its work, whatever else the machine ran).

``--server node``: Node's socket.io with the same handlers (``servers/node_soak.js``) under
the same run. The machine's CPU (``/proc/stat``: every process and the kernel) is printed
per phase beside the server's: the client processes share the cores.

Churn, each a fresh connection: a WebSocket that connects and leaves politely, one that
connects and is aborted, a polling session abandoned after connecting (the server reaps it
after the heartbeat), and a polling session that upgrades to WebSocket and leaves.

Limits of one machine: a process can hold what ``ulimit -n`` allows (each polling session
holds two connections, one for its long poll, one for its posts), and one client address
has about 28,000 ports to a server port. The summary states what was reached.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from soak_clients import Http, raise_fd_limit, ws_connect

CLIENTS = str(Path(__file__).with_name("soak_clients.py"))
SERVER = str(Path(__file__).with_name("soak_server.py"))
NODE_SERVER = str(Path(__file__).parent / "servers" / "node_soak.js")
SLOW = 0.020
"""A pause or a p99 over this is counted (issue 14's target)."""
TAIL = 60.0
"""Seconds the mass disconnect is sampled at most: the sessions abandoned by the churn's
last seconds are reaped after the heartbeat (45 s)."""

# -- the conductor ----------------------------------------------------------------------------

PHASES = ("start", "ramp", "churn", "hold", "leave")
"""Before any client (start-up), the clients connecting, the churn, the hold, the end."""


def proc_stats(pid: int) -> tuple[float, int]:
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def machine_cpu() -> float:
    """CPU seconds every process of the machine has taken since boot, the kernel's work
    included (``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def server_port(server: subprocess.Popen[str]) -> int:
    """The port ``soak_server.py`` says it listens on (0 when it exits without saying)."""
    assert server.stdout is not None
    for line in server.stdout:
        if "Socket.IO on http://" in line:
            return int(line.split("http://127.0.0.1:")[1].split()[0].rstrip(")"))
    return 0


def p99(values: list[float]) -> float:
    """The 99th percentile of sorted ``values``, in ms (nan for none)."""
    return values[max(0, math.ceil(len(values) * 0.99) - 1)] * 1e3 if values else math.nan


class Run:
    """What the conductor records: echoes, pauses and samples with their times, the times
    the phases began, and the server's state at the four points."""

    def __init__(self) -> None:
        self.echoes: list[tuple[float, float]] = []  # (answered at, seconds)
        # (answered at, seconds from the send to the server's handler, from it to the answer):
        # the handler returns when it ran (time.perf_counter: one clock for all processes)
        self.legs: list[tuple[float, float, float]] = []
        self.pauses: list[tuple[float, float]] = []  # (ended at, seconds)
        self.seconds: list[tuple[float, float]] = []  # (sampled at, p99 ms of that second)
        self.begun: dict[str, float] = {"start": 0.0}
        self.points: list[tuple[str, dict[str, Any]]] = []
        self.gc_cpu: dict[str, float] = {}  # with --gc-detail: per phase, the most CPU
        # time (s) a full collection took: its work, without what other processes took
        self.turns: list[tuple[float, float, float]] = []  # (sampled at, longest turn ms,
        # the most CPU ms of the loop's thread in one turn)
        self.cpu: list[tuple[float, float]] = []  # (sampled at, the server's CPU seconds)
        self.machine: list[tuple[float, float]] = []  # (sampled at, CPU seconds every
        # process of the machine took, the kernel's included: /proc/stat)

    def phase_of(self, at: float) -> str:
        phase = "start"
        for name in PHASES:
            if self.begun.get(name, math.inf) <= at:
                phase = name
        return phase

    def summary(self) -> list[str]:
        out = [f"{'phase':>6} {'s':>5} {'gc2':>4} {'>20ms':>5} {'max ms':>7} {'p99 med':>8} "
               f"{'s>20ms':>6} {'p99 all':>8} {'max ms':>7} {'echoes':>7} "
               f"{'>20ms':>6}"]  # fmt: skip
        ends = [*(self.begun.get(name) for name in PHASES[1:]), None]
        for name, end in zip(PHASES, ends, strict=True):
            if name not in self.begun:
                continue
            pauses = [s for t, s in self.pauses if self.phase_of(t) == name]
            echoes = sorted(s for t, s in self.echoes if self.phase_of(t) == name)
            seconds = [p for t, p in self.seconds if self.phase_of(t) == name and not math.isnan(p)]
            length = (end or time.monotonic()) - self.begun[name] if name != "start" else 0
            out.append(
                f"{name:>6} {length:5.0f} {len(pauses):4d} "
                f"{sum(s > SLOW for s in pauses):5d} {max(pauses, default=0) * 1e3:7.1f} "
                f"{statistics.median(seconds) if seconds else math.nan:8.2f} "
                f"{sum(p > SLOW * 1e3 for p in seconds):6d} {p99(echoes):8.2f} "
                f"{(echoes[-1] * 1e3 if echoes else math.nan):7.1f} {len(echoes):7d} "
                f"{sum(e > SLOW for e in echoes):6d}"
            )
        legs = [
            f"{name} {max(i for t, i, _ in self.legs if self.phase_of(t) == name) * 1e3:.1f}"
            f"/{max(o for t, _, o in self.legs if self.phase_of(t) == name) * 1e3:.1f}"
            for name in PHASES if any(self.phase_of(t) == name for t, _, _ in self.legs)
        ]  # fmt: skip
        out.append("echo legs, longest ms (to the handler/back): " + ", ".join(legs))
        if self.turns:
            out.append("longest loop turn ms (wall/CPU): " + ", ".join(
                f"{name} {max(ms for t, ms, _ in self.turns if self.phase_of(t) == name):.1f}"
                f"/{max(cpu for t, _, cpu in self.turns if self.phase_of(t) == name):.1f}"
                for name in PHASES if any(self.phase_of(t) == name for t, _, _ in self.turns)
            ))  # fmt: skip
        for what, samples in (("server", self.cpu), ("machine (both cores)", self.machine)):
            spent = {}
            for (_, before), (at, after) in itertools.pairwise(samples):
                phase = self.phase_of(at)
                spent[phase] = spent.get(phase, 0.0) + after - before
            out.append(f"{what} CPU s: " + ", ".join(
                f"{name} {spent[name]:.2f}" for name in PHASES if name in spent
            ))  # fmt: skip
        if self.gc_cpu:
            out.append("full collection, most CPU ms: " + ", ".join(
                f"{name} {self.gc_cpu[name] * 1e3:.1f}" for name in PHASES if name in self.gc_cpu
            ))  # fmt: skip
        out.append(f"{'point':>8} {'rss MB':>7} {'fds':>6} {'sessions':>8} {'blocks k':>8} "
                   f"{'frozen':>8} {'sweeps':>6}")  # fmt: skip
        for point, s in self.points:
            out.append(f"{point:>8} {s['rss']:7.0f} {s['fds']:6d} {s['sessions']:8d} "
                       f"{s['blocks'] / 1e3:8.0f} {s['frozen']:8d} {s['sweeps']:6d}")  # fmt: skip
        return out


async def conduct(args: argparse.Namespace) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if not args.gc_freeze:
        env["SOAK_GC_FREEZE"] = "0"
    if args.polite_leave:
        env["SOAK_LEAVE_POLITELY"] = "1"
    if args.gc_detail:
        env["SOAK_GC_DETAIL"] = "1"
    if args.sample_loop:
        env["SOAK_SAMPLE_LOOP"] = "1"
    if args.loop_turns:
        env["SOAK_LOOP_TURNS"] = "1"
    if args.gc_garbage:
        env["SOAK_GC_GARBAGE"] = "1"
    command = ["node", NODE_SERVER] if args.server == "node" else [sys.executable, SERVER]
    server = subprocess.Popen(
        command,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    port = server_port(server)
    policy = f"gc_freeze={args.gc_freeze}, " if args.server != "node" else ""  # SOAK_* too
    print(f"server {args.server} pid {server.pid} on port {port}, {policy}"
          f"polite_leave={args.polite_leave}")  # fmt: skip
    run = Run()
    sent: dict[str, float] = {}

    def on_event(text: str) -> None:
        if text.startswith("43"):
            at = text.index("[")
            now = time.perf_counter()
            began = sent.pop(text[2:at])
            run.echoes.append((time.monotonic(), now - began))
            ran = json.loads(text[at:])[-1]
            run.legs.append((time.monotonic(), ran - began, now - ran))

    http = await Http.open(port)

    async def point(name: str) -> dict[str, Any]:
        _, body = await http.request("GET", "/stats?deep=1")
        stats = json.loads(body)
        run.pauses += stats["gc2"]
        rss, fds = proc_stats(server.pid)
        stats.update(rss=rss, fds=fds)
        run.points.append((name, stats))
        return stats

    await point("start")
    good = await ws_connect(port, on_event=on_event)
    procs = []
    share = args.processes
    run.begun["ramp"] = time.monotonic()
    for _ in range(share):
        cmd = [
            sys.executable, CLIENTS, str(port), str(args.ws // share),
            str(args.polling // share), str(args.churn_seconds), str(args.churn_rate / share),
        ]  # fmt: skip
        procs.append(await asyncio.create_subprocess_exec(
            *cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**env, "SOAK_LEAVE_ON_CUE": "1"},
        ))  # fmt: skip
    said: dict[str, int] = {}  # how many client processes said what

    async def listen(proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := (await proc.stdout.readline()).decode().strip():
            print("  clients:", line, flush=True)
            key = next(iter(json.loads(line)))
            said[key] = said.get(key, 0) + 1
            phase = {"held": "churn", "churned": "hold", "leaving": "leave"}.get(key)
            if phase and said[key] == len(procs):
                run.begun[phase] = time.monotonic()
            if key == "churned" and said[key] == len(procs):
                # Every process has churned: the hold, then all of them leave at once
                # (their churns end apart: each began after its own ramp).
                await asyncio.sleep(float(os.environ.get("SOAK_HOLD", "5")))
                for each in procs:
                    assert each.stdin is not None
                    each.stdin.write(b"leave\n")
            if key == "leaving" and args.profile_leave and said[key] == 1:
                profiling = await Http.open(port)  # not the sampler's connection
                query = f"profile={args.profile_leave}&seconds=1.5"
                await profiling.request("GET", f"/stats?{query}")
                profiling.close()

    listeners = [asyncio.ensure_future(listen(p)) for p in procs]
    print(f"{'t':>5} {'rss MB':>7} {'fds':>6} {'sessions':>8} {'gc2':>4} {'gc2 max ms':>10} "
          f"{'echo p50':>8} {'p99':>7} {'max ms':>7}"
          f"{' turn ms   cpu' if args.loop_turns else ''}")  # fmt: skip
    start = time.monotonic()
    n = 0
    tail_end = math.inf
    pointed = {"start"}
    while time.monotonic() < tail_end:
        window_end = time.monotonic() + 1
        first = len(run.echoes)
        while time.monotonic() < window_end:
            n += 1
            sent[str(n)] = time.perf_counter()
            good.send(f'42{n}["echo",{n}]')  # answered with the time the handler ran
            await asyncio.sleep(0.01)
        _, body = await http.request("GET", "/stats")
        stats = json.loads(body)
        run.pauses += stats["gc2"]
        if stats.get("garbage"):  # --gc-garbage
            print("  garbage:", json.dumps(stats["garbage"]), flush=True)
        for pause in stats.get("gc2_detail", ()):
            print("  gc2:", json.dumps(pause), flush=True)
        if "gc2_cpu_max" in stats:
            phase = run.phase_of(time.monotonic())
            run.gc_cpu[phase] = max(run.gc_cpu.get(phase, 0.0), stats["gc2_cpu_max"])
        run.cpu.append((time.monotonic(), stats["cpu_s"]))
        run.machine.append((time.monotonic(), machine_cpu()))
        turn = ""
        if "turn_max_ms" in stats:
            run.turns.append((time.monotonic(), stats["turn_max_ms"], stats["turn_cpu_ms"]))
            turn = f" {stats['turn_max_ms']:6.1f} {stats['turn_cpu_ms']:5.1f}"
        rss, fds = proc_stats(server.pid)
        window = sorted(s for _, s in run.echoes[first:])
        if window and window[-1] > 0.05 and stats.get("loop_samples"):
            print(f"  loop (longest lag {stats['loop_lag_ms']} ms):",
                  json.dumps(stats["loop_samples"]), flush=True)  # fmt: skip
        p50 = statistics.median(window) * 1e3 if window else math.nan
        run.seconds.append((time.monotonic(), p99(window)))
        gc2 = max((s for _, s in stats["gc2"]), default=0.0) * 1e3
        print(
            f"{time.monotonic() - start:5.0f} {rss:7.0f} {fds:6d} {stats['sessions']:8d} "
            f"{len(stats['gc2']):4d} {gc2:10.1f} {p50:8.2f} {p99(window):7.2f} "
            f"{(window[-1] * 1e3 if window else math.nan):7.1f}{turn}",
            flush=True,
        )
        for name, phase in (("held", "churn"), ("churned", "hold")):
            if phase in run.begun and name not in pointed:
                pointed.add(name)
                await point(name)
        if "leave" in run.begun and tail_end == math.inf:
            tail_end = run.begun["leave"] + TAIL  # bounded, whatever happens
        if all(p.returncode is not None for p in procs) and stats["sessions"] <= 1:
            tail_end = min(tail_end, time.monotonic() + 1)  # all gone: one more window
        for proc in procs:
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), 0.001)
                except TimeoutError:
                    pass
    await point("end")
    for listener in listeners:
        listener.cancel()
    server.terminate()
    server.wait(30)
    print("\n".join(run.summary()))


def main() -> None:
    raise_fd_limit()
    from flask_realtime.runtime import new_event_loop as policy_loop  # uvloop when installed

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--server", choices=("flask-realtime", "node"), default="flask-realtime",
        help="the server under test: soak_server.py, or Node's socket.io with the same "
        "handlers (servers/node_soak.js: GC pauses are its major ones; no heap figures)",
    )  # fmt: skip
    parser.add_argument("--ws", type=int, default=15000)
    parser.add_argument("--polling", type=int, default=2000)
    parser.add_argument("--churn-seconds", type=float, default=60)
    parser.add_argument("--churn-rate", type=float, default=100, help="connections per second")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument(
        "--no-gc-freeze", dest="gc_freeze", action="store_false",
        help="SocketIO(gc_freeze=False): the collector as Python sets it",
    )  # fmt: skip
    parser.add_argument(
        "--gc-detail", action="store_true",
        help="print each full collection over 5 ms: the generations' sizes at its start "
        "(counted outside the pause), what it collected, the thread it ran on",
    )  # fmt: skip
    parser.add_argument(
        "--sample-loop", action="store_true",
        help="sample where the loop's thread is every 2 ms; print the most seen in each "
        "second whose slowest echo took over 50 ms",
    )  # fmt: skip
    parser.add_argument(
        "--loop-turns", action="store_true",
        help="time the server's loop turns (a 1 ms timer on the loop): the longest per "
        "second and per phase",
    )  # fmt: skip
    parser.add_argument(
        "--gc-garbage", action="store_true",
        help="print the cyclic garbage the collector found each second, by type "
        "(gc.DEBUG_SAVEALL: it is kept, not freed, so the heap grows)",
    )  # fmt: skip
    parser.add_argument(
        "--profile-leave", metavar="FILE",
        help="profile the server's loop thread (cProfile) for 1.5 s from the mass "
        "disconnect on, into FILE (pstats)",
    )  # fmt: skip
    parser.add_argument(
        "--polite-leave", action="store_true",
        help='at the end, each WebSocket sends "41" and a close frame',
    )  # fmt: skip
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=policy_loop) as runner:
        runner.run(conduct(args))


if __name__ == "__main__":
    main()
