"""The report: the per-run summary line, the markdown tables, the README summary."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .plan import (
    METRICS,
    OP_NAME,
    README,
    README_BEGIN,
    README_END,
    SCENARIOS,
    SERVER_BY_NAME,
    SERVERS,
)
from .process import rel


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
