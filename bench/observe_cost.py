"""What observability costs per event, in instructions (callgrind): off vs all of it on.

    python observe_cost.py                  # both measures (make observe-cost)
    python observe_cost.py --measure toggle # off and on in one process (steadiest)
    python observe_cost.py --measure server --n1 200 --n2 1000

"All on" is what ``servers/flask_realtime_app.py --observed production`` switches on:
``instrument(mode="production")``, ``metrics()`` and ``log_connections()``. Two measures
(``both``), each run once with the server plain and once all on, and a third, under
``valgrind --tool=callgrind --dump-instr=no`` (instructions are immune to a busy machine;
wall-clock figures here are not, see README.md):

- ``inprocess``: the app of ``servers/flask_realtime_app.py`` driven without sockets: 20
  Engine.IO sessions on a transport that hands what the server sends back to this script
  (the server's own sessions, traffic counts included; no kernel, no WebSocket framing);
- ``server``: that server process itself, fed by 20 WebSocket clients of this script (not
  under callgrind): the real per-event cost, sockets and framing included;
- ``toggle`` (not in ``both``): in process, one process for both: all on, then switched
  off (every observer removed: the server's per-event points swapped back out) and on
  again between phases. Two processes differ by up to ~2% even running the same code
  (the addresses objects get decide, for one, the hashes of the context variables Flask
  sets per event, and so the depth of the context's trie); one process compares off and
  on with the same addresses: the steadiest figure of the per-event cost.

Each row is one kind of event, sent by the clients in lock step (one in flight at a time,
clients in turn: the same work whatever the timing): ``echo``/``aecho`` (an emit back, from
a ``def``/``async def`` handler), ``echo_ack``/``aecho_ack`` (the return value as the ack),
and ``bcast`` (one ``async def`` handler emitting to all 20 clients; per recipient). Per
event is the difference of two runs of N1 and N2 events over N2 - N1, which leaves out
start-up, connecting and a phase's own fixed cost; each phase is a callgrind dump (the
counters restart at each): in process the script calls ``os.getppid()``, which callgrind
dumps before (``--dump-before=getppid``), and the server is dumped with
``callgrind_control -d``. Every row is measured twice (N1, N2, N1, N2): both figures are
printed, so that their agreement shows how far a row can be trusted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import runpy
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APP = HERE / "servers" / "flask_realtime_app.py"
CLIENTS = 20
PAYLOAD = {"msg": "x" * 64}
ROWS = ("echo", "aecho", "echo_ack", "aecho_ack", "bcast")
ROW_NAMES = {
    "echo": "echo, emit back (def)",
    "aecho": "echo, emit back (async def)",
    "echo_ack": "echo, ack (def)",
    "aecho_ack": "echo, ack (async def)",
    "bcast": "broadcast, per recipient",
}
CONFIGS = (("off", None), ("on", "production"))
SRC = HERE.parent / "src"  # this checkout's package, whatever the venv has installed


def child_env() -> dict[str, str]:
    """The environment of a process under callgrind: this checkout's sources first, and
    a fixed hash seed (the same dict layouts in every run)."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONHASHSEED": "0",
            "PYTHONPATH": str(SRC) + (os.pathsep + path if path else "")}  # fmt: skip


WARMUP = 50
IDLE = 5.0
"""Seconds of the idle phase that measures the server's work per second (its timers)."""


def frame(row: str, ack_id: int | None = None, count: int = 1) -> str:
    """The Socket.IO message (without the Engine.IO "4") a client sends for ``row``."""
    if row == "bcast":
        return "2" + json.dumps(["start_broadcast", {"size": 64, "count": count}])
    prefix = "2" if ack_id is None else f"2{ack_id}"
    return prefix + json.dumps([row, PAYLOAD], separators=(",", ":"))


class LockStep:
    """The clients' side of a phase: ``count`` events in turn, one in flight at a time
    (a broadcast: one ``start_broadcast`` of ``count`` messages, done when every client
    has them all).

    ``send(i, text)`` sends client ``i``'s message; :meth:`received` is called with each
    Socket.IO message a client gets; ``finished`` is called once the phase is over.
    """

    def __init__(self, send: Any, schedule: Any) -> None:
        self.send = send
        self.schedule = schedule  # runs a callable soon (never inside the server's send)
        self.row = ""
        self.frame = ""
        self.reply = ""
        self.left = 0
        self.turn = 0
        self.waiting = 0
        self.finished: Any = None

    def start(self, row: str, count: int, finished: Any) -> None:
        self.row, self.left, self.finished = row, count, finished
        ack = row.endswith("_ack")
        self.frame = frame(row, 1 if ack else None)  # built once: the clients' cost is not
        self.reply = "2" if row == "bcast" else "31[" if ack else f'2["{row}"'  # measured
        self.schedule(self.next)

    def next(self) -> None:
        if self.left == 0:
            self.finished()
            return
        if self.row == "bcast":
            self.waiting = CLIENTS * self.left
            self.send(0, frame("bcast", count=self.left))
            self.left = 0
            return
        self.left -= 1
        self.waiting = 1
        client, self.turn = self.turn, (self.turn + 1) % CLIENTS
        self.send(client, self.frame)

    def received(self, text: str) -> None:
        if self.waiting and text.startswith(self.reply):
            self.waiting -= 1
            if self.waiting == 0:
                self.schedule(self.next)


def load_app(observed: str | None) -> dict[str, Any]:
    """The globals of ``servers/flask_realtime_app.py`` (its ``app``, ``socketio``)."""
    argv = sys.argv
    sys.argv = [str(APP)] + (["--observed", observed] if observed else [])
    try:
        return runpy.run_path(str(APP), run_name="bench_app")
    finally:
        sys.argv = argv


Step = tuple[str, str, int]
"""One phase of a child, a dump after it: ``(config, row, events)`` for ``config`` "off" or
"on", measured; ``("warm", row, WARMUP)``, a warm-up, and ``("switch", config, 0)``, which
switches observability to ``config``, are not read."""


def plan(n1: int, n2: int, config: str = "on", toggle: bool = False) -> list[Step]:
    """The phases of one process after start-up: per row a warm-up, then N1, N2, N1, N2;
    a dump after each. Toggled (one process for both): per row, all on for the warm-up,
    then off N1, N2, on N1, N2, twice, each switch a phase of its own."""
    steps: list[Step] = []
    for row in ROWS:
        steps.append(("warm", row, WARMUP))
        if not toggle:
            steps += [(config, row, n) for n in (n1, n2, n1, n2)]
            continue
        for _ in range(2):
            for state in ("off", "on"):
                steps += [("switch", state, 0), (state, row, n1), (state, row, n2)]
    return steps


# -- in process (this script under callgrind, --child) ------------------------------------


def run_child(observed: str | None, n1: int, n2: int, durations: Path, toggle: bool) -> None:
    """The in-process measure's side under callgrind: drive the app, dump per phase,
    write the phases' durations (seconds, one per dump) to ``durations``. ``toggle``:
    all on, switched off and on again between phases (see ``--measure toggle``)."""
    from flask_realtime.engine.http import EngineRequest
    from flask_realtime.engine.message import OutgoingMessage
    from flask_realtime.protocol.engineio import Packet, PacketType

    found = load_app(observed)
    service = found["socketio"].service_for(found["app"])
    bridge = service.ensure_loop()
    loop = bridge.loop
    sessions: list[Any] = []
    phase_done = threading.Event()

    class Transport:
        """A WebSocket that is always writable and hands every message to the clients,
        and whose client answers the server's pings (a slow run outlasts a heartbeat)."""

        name = "websocket"
        writable = True
        session: Any = None

        def send(self, items: Any) -> None:
            for item in items:
                if isinstance(item, OutgoingMessage):
                    if isinstance(item.data, str):
                        step.received(item.data)
                elif item.type is PacketType.PING:
                    loop.call_soon(self.pong)

        def pong(self) -> None:
            self.session.receive(Packet(PacketType.PONG), loop.time())

        def close(self, *, noop: bool = False) -> None:
            pass

        def pause_input(self, paused: bool) -> None:
            pass

    def send(client: int, text: str) -> None:
        sessions[client].receive_message(text)

    step = LockStep(send, loop.call_soon)

    def settle_then_finish() -> None:
        left = [len(sessions)]

        def one_idle() -> None:
            left[0] -= 1
            if left[0] == 0:
                phase_done.set()

        for eio in sessions:
            service.runner.when_idle(eio.sid, one_idle)

    def open_sessions() -> None:
        for i in range(CLIENTS):
            request = EngineRequest("GET", "/socket.io/", "EIO=4&transport=websocket", {},
                                    remote_addr=("127.0.0.1", 40000 + i))  # fmt: skip
            transport = Transport()
            eio = service.engine.open_websocket(request, transport, loop.time())
            transport.session = eio
            sessions.append(eio)
            eio.receive_message("0")
        phase_done.set()

    times = [time.monotonic()]

    def phase(run: Any) -> None:
        phase_done.clear()
        bridge.call(run)
        if not phase_done.wait(600):
            raise SystemExit("a phase did not finish within 600 s")
        bridge.call_and_wait(lambda: None, timeout=60)
        times.append(time.monotonic())
        os.getppid()  # callgrind dumps here (--dump-before=getppid)

    phase(open_sessions)
    time.sleep(IDLE)  # the idle phase: the timers' work per second
    phase(phase_done.set)
    observers = service.server.observer
    members = list(getattr(observers, "observers", ()))  # the admin UI, metrics, log

    def switch(state: str) -> None:
        for member in members:  # each removal or addition rewires the server's points
            if state == "on":
                observers.add(member)
            else:
                observers.remove(member)
        phase_done.set()

    for config, row, count in plan(n1, n2, toggle=toggle):
        if config == "switch":
            phase(lambda state=row: switch(state))
        else:
            phase(lambda row=row, count=count: step.start(row, count, settle_then_finish))
    durations.write_text(json.dumps([b - a for a, b in itertools.pairwise(times)]))


# -- the real server (under callgrind), fed by WebSocket clients of this script -----------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def drive_server(port: int, n1: int, n2: int, dump: Any) -> list[float]:
    """Connect the clients to the server on ``port``, run the phases, dump after each;
    the phases' durations (seconds, one per dump)."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    clients = []
    for _ in range(CLIENTS):
        for _attempt in range(600):
            try:
                ws = await connect(url, compression=None, max_size=None)
                break
            except OSError:
                await asyncio.sleep(0.5)
        else:
            raise SystemExit("the server did not accept connections")
        assert (await ws.recv()).startswith("0")
        await ws.send("40")
        assert (await ws.recv()).startswith("40")
        clients.append(ws)
    loop = asyncio.get_running_loop()
    step = LockStep(lambda i, text: loop.create_task(clients[i].send("4" + text)),
                    loop.call_soon)  # fmt: skip

    async def read(ws: Any) -> None:
        async for message in ws:
            if message == "2":
                await ws.send("3")  # a ping (a tick of the server's timers, in any phase)
            elif message[:1] == "4":
                step.received(message[1:])

    readers = [loop.create_task(read(ws)) for ws in clients]
    await asyncio.to_thread(dump)  # start-up and connecting
    times = [time.monotonic()]
    await asyncio.sleep(IDLE)  # the idle phase: the timers' work per second
    times.append(time.monotonic())
    await asyncio.to_thread(dump)
    for _config, row, count in plan(n1, n2):  # one config per server process
        finished = loop.create_future()
        step.start(row, count, lambda f=finished: f.set_result(None))
        await asyncio.wait_for(finished, 900)
        await asyncio.sleep(0.3)  # the server's tail of the last event (handler clean-up)
        times.append(time.monotonic())
        await asyncio.to_thread(dump)
    for ws in clients:
        await ws.close()
    for reader in readers:
        reader.cancel()
    return [0.0] + [b - a for a, b in itertools.pairwise(times)]


# -- the parent: run under callgrind, read the dumps ----------------------------------------


def valgrind(out: Path, *extra: str) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--dump-instr=no", f"--callgrind-out-file={out}",
            *extra]  # fmt: skip


def dumps(out: Path) -> list[int]:
    """The instruction counts of the numbered dumps of ``out`` (out.1, out.2, ...)."""
    found = []
    for path in out.parent.glob(out.name + ".*"):
        if re.fullmatch(r"\d+", path.suffix[1:]):
            text = path.read_text(errors="replace")
            match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            assert match is not None, path
            found.append((int(path.suffix[1:]), int(match.group(1))))
    return [count for _, count in sorted(found)]


def per_event(
    counts: list[int], durations: list[float], steps: list[Step], n1: int, n2: int
) -> tuple[dict[str, dict[str, tuple[float, float]]], float]:
    """Per config and row, the two per-event figures of its phases (N1, N2, N1, N2 in
    ``steps``), and the work per second measured idle, taken out of every phase first:
    what the timers do (heartbeats, the admin UI's statistics) is per second, not per
    event, and callgrind stretches a phase's seconds some fifty times."""
    rate = counts[1] / durations[1]  # the first dump: start-up and connecting; then idle
    phases = [count - rate * seconds for count, seconds in zip(counts[2:], durations[2:],
                                                                strict=True)]  # fmt: skip
    measured: dict[tuple[str, str], list[float]] = {}
    for (config, row, _events), instructions in zip(steps, phases, strict=True):
        if config in ("off", "on"):
            measured.setdefault((config, row), []).append(instructions)
    result: dict[str, dict[str, tuple[float, float]]] = {}
    for (config, row), (a1, a2, b1, b2) in measured.items():
        per = (n2 - n1) * (CLIENTS if row == "bcast" else 1)
        result.setdefault(config, {})[row] = ((a2 - a1) / per, (b2 - b1) / per)
    return result, rate


def measure_inprocess(
    observed: str | None, n1: int, n2: int, tmp: Path
) -> tuple[list[int], list[float]]:
    out = tmp / f"inproc-{observed or 'off'}.cg"
    times = tmp / f"inproc-{observed or 'off'}.json"
    env = child_env()
    cmd = [*valgrind(out, "--dump-before=getppid"), sys.executable, str(Path(__file__)),
           "--child", observed or "off", "--n1", str(n1), "--n2", str(n2),
           "--durations", str(times)]  # fmt: skip
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=3600)  # fmt: skip
    return dumps(out), json.loads(times.read_text())


def measure_server(
    observed: str | None, n1: int, n2: int, tmp: Path
) -> tuple[list[int], list[float]]:
    out = tmp / f"server-{observed or 'off'}.cg"
    port = free_port()
    env = child_env()
    cmd = [*valgrind(out), sys.executable, str(APP), "--port", str(port)]
    if observed:
        cmd += ["--observed", observed]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    control = shutil.which("callgrind_control") or "callgrind_control"

    def dump() -> None:
        subprocess.run([control, "-d", str(server.pid)], check=True, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    try:
        durations = asyncio.run(asyncio.wait_for(drive_server(port, n1, n2, dump), 3600))
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(60)
        if server.poll() is None:
            server.kill()
            server.wait()
    return dumps(out), durations


def report(name: str, results: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
    off, on = results["off"], results["on"]
    lines = [f"{name}: instructions per event (two runs each)",
             f"| {'row':<28} | {'off':>17} | {'all on (production)':>19} | {'cost':>7} "
             f"| {'per event':>9} |",
             f"|{'-' * 30}|{'-' * 19}|{'-' * 21}|{'-' * 9}|{'-' * 11}|"]  # fmt: skip
    for row in ROWS:
        a, b = off[row], on[row]
        extra = sum(b) / 2 - sum(a) / 2
        lines.append(
            f"| {ROW_NAMES[row]:<28} | {a[0] / 1000:7.2f}k {a[1] / 1000:7.2f}k "
            f"| {b[0] / 1000:8.2f}k {b[1] / 1000:8.2f}k | {extra / (sum(a) / 2):+6.1%} "
            f"| {extra / 1000:+8.2f}k |"
        )
    return lines


TITLES = {
    "inprocess": "in process (no sockets)",
    "server": "the real server",
    "toggle": "in process, one process switched off and on",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", choices=("inprocess", "server", "toggle", "both"),
                        default="both")  # fmt: skip
    parser.add_argument("--n1", type=int, default=100)
    parser.add_argument("--n2", type=int, default=500)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--durations", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--keep", help="keep the callgrind files in this directory")
    args = parser.parse_args()
    if args.child:
        toggle = args.child == "toggle"
        observed = "production" if toggle else None if args.child == "off" else args.child
        run_child(observed, args.n1, args.n2, args.durations, toggle)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    measures = ("inprocess", "server") if args.measure == "both" else (args.measure,)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="observe-cost-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        for measure in measures:
            run = measure_server if measure == "server" else measure_inprocess
            results: dict[str, dict[str, tuple[float, float]]] = {}
            rates: dict[str, float] = {}
            runs = (("both", "toggle"),) if measure == "toggle" else CONFIGS
            for config, observed in runs:
                started = time.monotonic()
                counts, durations = run(observed, args.n1, args.n2, tmp)
                steps = plan(args.n1, args.n2, config, toggle=measure == "toggle")
                found, rate = per_event(counts, durations, steps, args.n1, args.n2)
                results.update(found)
                rates[config] = rate
                print(f"  {measure} {config}: {time.monotonic() - started:.0f} s",
                      file=sys.stderr, flush=True)  # fmt: skip
            title = f"{TITLES[measure]}, N1={args.n1} N2={args.n2}"
            print("\n".join(report(title, results)), flush=True)
            idle = ", ".join(f"{rate / 1e3:.0f}k {config}" for config, rate in rates.items())
            print(f"(idle, instructions per second: {idle}; taken out of each phase)",
                  flush=True)  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
