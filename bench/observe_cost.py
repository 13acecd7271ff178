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

This module is the parent: it runs the measures under callgrind and reads the dumps. The
phases, the clients in lock step and the in-process child are in ``observe_phases.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from observe_phases import APP, CLIENTS, HERE, ROWS, Step, drive_server, free_port, plan, run_child

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
