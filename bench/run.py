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
import json
import signal
import sys
from pathlib import Path

from runner.plan import SCENARIOS, build_cases, make_plan
from runner.process import probe
from runner.report import render_markdown
from runner.servers import SERVERS
from runner.session import run


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
    p.add_argument(
        "--retries",
        type=int,
        default=-1,
        help="run an echo/polling run again when other processes held 15%% or more of a "
        "side's CPUs, up to this many times (default 2)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=-1,
        help="before an echo/polling run, wait up to this many seconds for the server's and "
        "the load generator's CPUs to be idle (default 20; 0: do not wait)",
    )
    p.add_argument("--note", default="", help="a line for the report (e.g. the machine was busy)")
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
