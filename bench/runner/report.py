"""The report: the per-run summary line, the markdown tables, the README summary."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .plan import METRICS, OP_NAME, README, README_BEGIN, README_END, SCENARIOS
from .process import rel
from .servers import SERVER_BY_NAME, SERVERS

# A run of a closed-loop scenario measures the server only when the server had work for the
# whole window: on its CPU (SERVER_BOUND of it at least), or runnable and waiting while other
# processes of the machine held that CPU. Otherwise the load generator (or, with one client,
# the latency of the loop) set the pace, and no ratio may be read from its rate.
CLOSED_LOOP = ("echo", "polling")
SERVER_BOUND = 0.9
CONTENDED = 0.15  # other processes held this much of a side's CPUs: the run is retried
BOUND_SERVER, BOUND_CONTENDED, BOUND_GEN, BOUND_NOISE, BOUND_LATENCY = (
    "server",
    "server, contended",
    "GENERATOR",
    "CONTENDED",
    "latency",
)


def bound(rec: dict[str, Any]) -> str:
    """Who set the pace of a closed-loop run ("" for other scenarios or without readings)."""
    cpu = rec.get("server_cpu_util")
    if rec.get("scenario") not in CLOSED_LOOP or cpu is None:
        return ""
    if rec.get("clients") == 1:
        return BOUND_LATENCY  # one message in flight: the server waits on every round trip
    if cpu >= SERVER_BOUND:
        return BOUND_SERVER
    others = min(rec.get("server_wait_util") or 0.0, rec.get("server_cpus_other_util") or 0.0)
    if cpu + others >= SERVER_BOUND:
        return BOUND_CONTENDED
    return BOUND_NOISE if contended(rec) else BOUND_GEN


def contended(rec: dict[str, Any]) -> bool:
    """Other processes held a good part of the server's or the load generator's CPUs."""
    return rec.get("scenario") in CLOSED_LOOP and (
        (rec.get("server_cpus_other_util") or 0.0) >= CONTENDED
        or (rec.get("gen_cpus_other_util") or 0.0) >= CONTENDED
    )


def disturbance(rec: dict[str, Any]) -> float:
    """How much of the busier side's CPUs other processes held (failed runs count as worst)."""
    if not rec.get("ok"):
        return 2.0
    return max(rec.get("server_cpus_other_util") or 0.0, rec.get("gen_cpus_other_util") or 0.0)


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.0f}%"


def summary_line(rec: dict[str, Any]) -> str:
    if not rec.get("ok"):
        return f"FAILED: {rec.get('error', 'unknown error')}"
    scenario = rec["scenario"]
    parts = []
    cpu = rec.get("server_cpu_us_per_op")
    if cpu is not None:
        parts.append(f"server {cpu} µs/{OP_NAME[scenario]}")
    for m in METRICS[scenario]:
        v = rec.get(m.key)
        if v is not None:
            parts.append(f"{fmt(v, m.digits)} {m.label}")
    srv, srv_o = pct(rec.get("server_cpu_util")), pct(rec.get("server_cpus_other_util"))
    gen, gen_o = pct(rec.get("gen_cpu_util")), pct(rec.get("gen_cpus_other_util"))
    parts.append(f"server CPU {srv} (others {srv_o}), loadgen CPU {gen} (others {gen_o})")
    if bound(rec):
        parts.append(f"bound: {bound(rec)}")
    return ", ".join(parts)


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
    bounds: list[str] = field(default_factory=list)  # bound() of each successful run

    def median(self, key: str) -> float | None:
        vs = self.values.get(key) or []
        return statistics.median(vs) if vs else None

    def bound(self) -> str:
        """The worst judgement among the repetitions: one generator-bound run taints the cell."""
        for label in (BOUND_GEN, BOUND_NOISE, BOUND_LATENCY, BOUND_CONTENDED, BOUND_SERVER):
            if label in self.bounds:
                return label
        return ""

    def server_bound(self) -> bool:
        """Only an undisturbed server-bound cell gives a ratio: under contention even µs/op
        rises, and by different amounts for different servers (seen: 2-4x)."""
        return self.bound() == BOUND_SERVER


CPU_KEYS = (
    "server_cpu_us_per_op",
    "gen_cpu_us_per_op",
    "client_cpu_util",
    "server_cpu_util",
    "server_wait_util",
    "server_cpus_other_util",
    "gen_cpu_util",
    "gen_cpus_other_util",
)


def collect(records: list[dict[str, Any]]) -> dict[tuple[str, str], Cell]:
    keys = {m.key for ms in METRICS.values() for m in ms} | set(CPU_KEYS)
    cells: dict[tuple[str, str], Cell] = {}
    for r in records:
        if r.get("type") != "result" or r.get("superseded"):
            continue
        cell = cells.setdefault((r["case"], r["server"]), Cell(0, 0, {}, []))
        cell.n += 1
        if not r.get("ok"):
            cell.errors.append(str(r.get("error", "failed")))
            continue
        cell.n_ok += 1
        cell.bounds.append(bound(r))
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


HOW_TO_READ = (
    "How to read: each cell is the median over the repetitions (min-max of the rate beside it). "
    "**`server µs/op`** is the headline: the server's CPU time (every thread, from "
    "/proc/<pid>/task/*/schedstat, in ns) per round trip, delivered message, connection or "
    "polling operation. `server CPU` and `loadgen CPU` are the share of its own pinned CPU "
    "each side used in the measured window; `others` is the share of those CPUs that other "
    "processes of the machine held. `bound` says who set the pace of a closed-loop run "
    "(echo, polling): `server` (its CPU at 90% or more: the rate is the server's), `server, "
    "contended` (the server had work all the time but other processes held part of its CPU: "
    "its rate is lower than on a quiet machine and its µs/op higher, by up to several "
    "times: no ratio), **`GENERATOR`** "
    "(the server sat idle part of the window waiting for the load generator: read no ratio "
    "from it), **`CONTENDED`** (the server sat idle while other processes held the load "
    "generator's or the server's CPU: the machine was too busy for this run to say anything), "
    "`latency` (one client: one message in flight, the server waits on every round trip). "
    "In the echo and polling tables `vs X` is a capacity ratio, X's µs/op over this row's "
    "(the rates each server reaches on a CPU of its own), given only where both rows are "
    "`server`-bound; in the other tables it is the ratio of the first metric. **Above 1 means "
    "this row is better.** Runs that other processes disturbed (others at 15% or more of "
    "either side's CPUs) are run again, up to `--retries` times, and the least disturbed "
    "attempt is reported; the `.jsonl` keeps every attempt. The `trivial-ws` rows are the "
    "ceiling: what the load generator reaches against "
    "a server that spends almost nothing."
)


def _cell_text(cell: Cell | None, key: str, digits: int, closed_loop: bool) -> str:
    if cell is None:
        return "n/a"
    if cell.n_ok == 0:
        return "failed"
    if not closed_loop:
        return fmt(cell.median(key), digits)
    us = cell.median("server_cpu_us_per_op")
    text = f"{fmt(us, 1)} µs · {fmt(cell.median(key), digits)}/s"
    return text if cell.server_bound() else f"{text} ({cell.bound()})"


def render_markdown(records: list[dict[str, Any]]) -> str:
    meta = next((r for r in records if r.get("type") == "meta"), {})
    results = [r for r in records if r.get("type") == "result" and not r.get("superseded")]
    cells = collect(records)
    present = list(dict.fromkeys(r["server"] for r in results))
    order = [s.name for s in SERVERS if s.name in present] + [
        n for n in present if n not in SERVER_BY_NAME
    ]
    compared = [n for n in order if SERVER_BY_NAME.get(n) and SERVER_BY_NAME[n].role != "ceiling"]
    short = {n: SERVER_BY_NAME[n].short if n in SERVER_BY_NAME else n for n in order}
    m = meta.get("machine", {})
    out: list[str] = []
    quick = " (quick run: one repetition of each cell)" if meta.get("quick") else ""
    out.append(f"# Benchmark results {meta.get('run', '')}{quick}\n")
    out.append(
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, Linux {m.get('kernel', '?')}. "
        f"Servers pinned to CPU {meta.get('server_cpus') or '-'}, load generator to CPU "
        f"{meta.get('loadgen_cpus') or '-'} ({meta.get('loadgen_workers', 1)} worker(s), "
        f"{meta.get('transport', 'raw')} WebSocket client), {meta.get('reps', '?')} "
        f"repetition(s) per cell, a fresh server for each. Node {meta.get('node', '?')}.\n"
    )
    if meta.get("note"):
        out.append(f"Note: {meta['note']}\n")
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
    out.append(HOW_TO_READ + "\n")
    out.append("## Summary\n")
    out.append(
        "Echo and polling: `server µs/op · rate`, followed by the `bound` when the server did "
        "not set the pace (then read neither as the server's); other scenarios: the first "
        "metric.\n"
    )
    out.append("| case | " + " | ".join(short[n] for n in order) + " |")
    out.append("|---|" + "---:|" * len(order))
    case_order = list(dict.fromkeys(r["case"] for r in results))
    titles = {r["case"]: r["title"] for r in results}
    scen = {r["case"]: r["scenario"] for r in results}
    for ck in case_order:
        first = METRICS[scen[ck]][0]
        unit = first.label
        if scen[ck] in CLOSED_LOOP:
            unit = f"server µs/{OP_NAME[scen[ck]]} · {first.label}"
        row = [f"{titles[ck]} ({unit})"]
        for n in order:
            cell = cells.get((ck, n))
            row.append(_cell_text(cell, first.key, first.digits, scen[ck] in CLOSED_LOOP))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    for scenario in SCENARIOS:
        cks = [ck for ck in case_order if scen[ck] == scenario]
        if cks:
            out += _scenario_table(scenario, cks, titles, cells, order, compared, short)
    return "\n".join(out)


def _scenario_table(
    scenario: str,
    cks: list[str],
    titles: dict[str, str],
    cells: dict[tuple[str, str], Cell],
    order: list[str],
    compared: list[str],
    short: dict[str, str],
) -> list[str]:
    ms = METRICS[scenario]
    closed = scenario in CLOSED_LOOP
    out = [f"## {scenario}\n"]
    header = ["case", "server", f"server µs/{OP_NAME[scenario]}", ms[0].label, "min-max"]
    header += [mm.label for mm in ms[1:]]
    header += ["server CPU (others)", "loadgen CPU (others)"]
    header += ["bound"] if closed else []
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
            us = cell.median("server_cpu_us_per_op")
            row.append(fmt(us, 1 if us is not None and us >= 10 else 2))
            ok_note = "" if cell.n_ok == cell.n else f" ({cell.n_ok}/{cell.n} ok)"
            row.append(fmt(med, ms[0].digits) + ok_note)
            row.append(f"{fmt(min(vs), ms[0].digits)}-{fmt(max(vs), ms[0].digits)}" if vs else "—")
            row += [fmt(cell.median(mm.key), mm.digits) for mm in ms[1:]]
            others = pct(cell.median("server_cpus_other_util"))
            row.append(f"{pct(cell.median('server_cpu_util'))} ({others})")
            gen = cell.median("gen_cpu_util")
            row.append(
                f"{pct(gen)} ({pct(cell.median('gen_cpus_other_util'))})"
                + (" sat" if gen is not None and gen >= SERVER_BOUND else "")
            )
            if closed:
                row.append(cell.bound())
            for other in compared:
                oc = cells.get((ck, other))
                if other == n:
                    row.append("")
                elif not closed:
                    row.append(
                        ratio(med, oc.median(ms[0].key) if oc else None, ms[0].higher_is_better)
                    )
                elif oc is None or not (cell.server_bound() and oc.server_bound()):
                    row.append("—")
                else:
                    row.append(ratio(us, oc.median("server_cpu_us_per_op"), False))
            out.append("| " + " | ".join(row) + " |")
    out.append("")
    return out


def update_readme(records: list[dict[str, Any]], md_path: Path) -> None:
    if not README.exists():
        return
    text = README.read_text()
    if README_BEGIN not in text or README_END not in text:
        return
    md = render_markdown(records)
    summary = md.split("## Summary\n", 1)[1].split("\n## ", 1)[0]
    meta = records[0]
    block = (
        f"{README_BEGIN}\nLatest full run: {meta.get('run')}, "
        f"[{rel(md_path)}]({rel(md_path)}) "
        f"(machine: {meta.get('machine', {}).get('cpu', '?')}).\n\n{summary.strip()}\n{README_END}"
    )
    head, rest = text.split(README_BEGIN, 1)
    _, tail_ = rest.split(README_END, 1)
    README.write_text(head + block + tail_)
