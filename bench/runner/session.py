"""The run: select cases and servers, pin the CPUs, run every cell, write the results."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .plan import BENCH, METRICS, NODE, SCENARIOS, Case, build_cases, make_plan
from .process import (
    StartError,
    cpu_list,
    machine_info,
    probe,
    raise_fd_limit,
    rel,
    run_loadgen,
    start_redis,
    start_server,
    stop_group,
    wait_for_quiet,
)
from .report import (
    CLOSED_LOOP,
    contended,
    disturbance,
    render_markdown,
    summary_line,
    update_readme,
)
from .servers import SERVER_BY_NAME, SERVERS, Server, runs_case


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
        "note": args.note,
    }
    records: list[dict[str, Any]] = [meta]
    plan_runs = [
        (case, rep, srv)
        for case in cases
        for rep in range(1, plan.reps + 1)
        for srv in servers
        if runs_case(srv, case)
    ]
    print(
        f"{len(plan_runs)} runs: {len(cases)} cases x {plan.reps} reps x {len(servers)} servers; "
        f"servers on CPU {server_cpus or '-'}, load generator on CPU {gen_cpus or '-'} "
        f"({workers} worker(s)); results in {rel(jsonl)}"
    )
    # before a closed-loop run, wait (up to plan.quiet_wait) for the two sides' CPUs to idle
    quiet_cpus = cpu_list(server_cpus) | cpu_list(gen_cpus) if plan.quiet_wait > 0 else set()
    start_failed: set[tuple[str, str]] = set()
    redis: subprocess.Popen[Any] | None = None
    redis_url = ""
    if any(srv.cluster for _, _, srv in plan_runs):
        try:
            redis, redis_url = start_redis(server_cpus, logs / "redis-server.log")
        except (StartError, OSError) as e:
            print(f"the redis scenario cannot run: {e}")
            plan_runs = [r for r in plan_runs if not r[2].cluster]
    try:
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
                cell = CellRun(srv, case, server_cpus, gen_cpus, logs, args.transport, workers)
                extra = ("--redis", redis_url, "--channel", f"bench-{stamp}-{i}")
                attempts: list[dict[str, Any]] = []
                for attempt in range(1 + max(0, plan.retries)):
                    busy_before = None
                    if case.scenario in CLOSED_LOOP and quiet_cpus:
                        busy_before = round(wait_for_quiet(quiet_cpus, plan.quiet_wait), 3)
                    res = cell.run(extra if srv.cluster else ())
                    res["cpus_busy_before"] = busy_before
                    if res.pop("start_failed", False):
                        start_failed.add((case.key, srv.name))
                    res = {**rec, **res, "scenario": case.scenario, "attempt": attempt + 1}
                    attempts.append(res)
                    again = contended(res) and attempt < plan.retries
                    tag = (
                        f" (contended: run again {attempt + 2}/{plan.retries + 1})" if again else ""
                    )
                    print(f"{head}: {summary_line(res)}{tag}", flush=True)
                    if not again:
                        break
                # the report keeps the attempt other processes disturbed least; every attempt
                # stays in the .jsonl
                kept = min(attempts, key=disturbance)
                for res in attempts:
                    if res is not kept:
                        res["superseded"] = True
                    records.append(res)
                    f.write(json.dumps(res) + "\n")
                f.flush()
    finally:
        if redis is not None:
            stop_group(redis)

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


@dataclass
class CellRun:
    """One server on one case: starts the server (or its cluster), runs the load generator."""

    srv: Server
    case: Case
    server_cpus: str
    gen_cpus: str
    logs: Path
    transport: str
    workers: int

    def run(self, extra: tuple[str, ...]) -> dict[str, Any]:
        procs: list[subprocess.Popen[Any]] = []
        ports: list[int] = []
        try:
            for _ in range(max(1, self.srv.cluster)):
                log = self.logs / f"{self.srv.name}.log"
                proc, port = start_server(self.srv, self.server_cpus, log, 30.0, extra)
                procs.append(proc)
                ports.append(port)
        except StartError as e:
            for proc in procs:
                stop_group(proc)
            return {"ok": False, "error": f"server failed to start: {e}", "start_failed": True}
        try:
            lg_args = {
                **self.case.args,
                "port": ports[0],
                "server-pid": ",".join(str(p.pid) for p in procs),
                "server-cpus": self.server_cpus,
                "gen-cpus": self.gen_cpus,
                "transport": self.transport,
                "workers": self.workers,
                "timeout": self.case.timeout,
            }
            if len(ports) > 1:
                lg_args["ports"] = ",".join(map(str, ports))
            res = run_loadgen(lg_args, self.gen_cpus, self.case.timeout)
            alive = all(p.poll() is None for p in procs)
        finally:
            for proc in procs:
                stop_group(proc)
        if not alive and res.get("ok"):
            res.update(ok=False, error="server exited during the run")
        return res
