"""Turning timings into rows: rates, ratio to torch, % of roofline; markdown, JSON and a chart.

% of roofline. A case declares its work per call: ``flops`` and/or ``bytes`` (the unavoidable
traffic, each input read once and each output written once). With this machine's measured FMA peak
P (GFLOP/s, for the case's dtype, default ISA, this thread count) and STREAM triad bandwidth B
(GB/s), the fastest any kernel could run the case is

    t_roof = max(flops / P, bytes / B)

and the row's % of roofline is ``100 * t_roof / t_measured``. A case with only flops is compared
with the FMA peak, one with only bytes with the triad bandwidth; matmul declares both and is
compute-bound at every size here. Working sets that fit in cache can beat the DRAM triad: such a
memory-bound row can exceed 100%.
"""
from __future__ import annotations

import json
import math
import os
from typing import List, Optional

from .registry import Case
from .timing import Timing


def make_rows(family: str, case: Case, timings: List[Timing], probes: dict) -> List[dict]:
    torch_time = next((t.time for t in timings if t.is_torch and t.time), None)
    peak = probes["fma_peak_gflops"].get(case.dtype, probes["fma_peak_gflops"]["float32"])
    bw = probes["triad_gbs"]
    rows = []
    for t in timings:
        sec = t.time
        row = {
            "family": family, "op": case.op, "shape": case.shape, "dtype": case.dtype,
            "variant": t.variant, "isa": t.isa, "library": "torch" if t.is_torch else "pydl",
            "time_s": sec, "samples_s": list(t.samples), "calls_per_sample": t.number,
            "flops": case.flops, "bytes": case.bytes,
            "rate": None, "rate_unit": "GFLOP/s" if case.flops else "GB/s",
            "ratio_to_torch": None, "roofline_pct": None,
            "max_rel_err": t.max_rel_err, "tol": case.tol, "note": t.note,
        }
        if sec:
            work = case.flops if case.flops else case.bytes
            row["rate"] = work / sec / 1e9
            t_roof = max(case.flops / (peak * 1e9) if case.flops else 0.0,
                         case.bytes / (bw * 1e9) if case.bytes else 0.0)
            row["roofline_pct"] = 100.0 * t_roof / sec if t_roof > 0 else None
            if torch_time:
                row["ratio_to_torch"] = torch_time / sec
        rows.append(row)
    return rows


def fmt_time(sec: Optional[float]) -> str:
    if sec is None:
        return "—"
    if sec < 1e-3:
        return f"{sec * 1e6:.3g} µs"
    if sec < 1:
        return f"{sec * 1e3:.3g} ms"
    return f"{sec:.3g} s"


def _fmt(x: Optional[float], spec: str, suffix: str = "") -> str:
    return "—" if x is None else format(x, spec) + suffix


def _pct(p: Optional[float]) -> str:
    return "—" if p is None else f"{p:.1f}%" if p < 10 else f"{p:.0f}%"


def is_flagged(row: dict) -> bool:
    err = row.get("max_rel_err")
    return err is not None and (math.isnan(err) or err > row["tol"])


def markdown_table(rows: List[dict]) -> str:
    lines = ["| op | shape | variant | isa | time | rate | vs torch | % roofline |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    untimed = {}  # (variant, isa, note) -> cases, so a variant skipped on many cases is one line
    flagged = []
    for r in rows:
        case = f"{r['op']} {r['shape']}"
        if r["time_s"] is None:
            untimed.setdefault((r["variant"], r["isa"], r["note"]), []).append(case)
            continue
        if is_flagged(r):
            flagged.append(f"⚠ {r['variant']} ({r['isa']}) on {case}: max relative error "
                           f"{r['max_rel_err']:.2g} vs torch (tolerance {r['tol']:.2g})")
        lines.append(
            f"| {r['op']} | {r['shape']} | {r['variant']}{' ⚠' if is_flagged(r) else ''} "
            f"| {r['isa'] or '—'} | {fmt_time(r['time_s'])} "
            f"| {_fmt(r['rate'], '.3g')} {r['rate_unit']} | {_fmt(r['ratio_to_torch'], '.2f', '×')} "
            f"| {_pct(r['roofline_pct'])} |")
    notes = flagged + [f"{v} ({isa}) {note}: {', '.join(cases)}"
                       for (v, isa, note), cases in untimed.items()]
    return "\n".join(lines + ([""] + [f"- {n}" for n in notes] if notes else []))


def write_json(path: str, doc: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")
    os.replace(tmp, path)


def write_chart(path: str, rows: List[dict], title: str) -> Optional[str]:
    """A horizontal bar per pydl row: torch time / pydl time (log scale, 1 = parity). Returns None
    when it wrote the chart, or the reason it could not (matplotlib missing)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # ImportError, or a broken backend
        return f"matplotlib is not importable ({type(exc).__name__}: {exc})"
    bars = [r for r in rows if r["library"] == "pydl" and r["ratio_to_torch"]]
    if not bars:
        return "no pydl row has a ratio to torch"
    families = list(dict.fromkeys(r["family"] for r in bars))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.28 * len(bars)))
    y = list(range(len(bars)))[::-1]
    ax.barh(y, [r["ratio_to_torch"] for r in bars],
            color=[colors[families.index(r["family"]) % len(colors)] for r in bars])
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['op']} {r['shape']} · {r['variant']} ({r['isa']})" for r in bars],
                       fontsize=7)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("torch time / pydl time  (>1: pydl faster)")
    ax.set_title(title, fontsize=9)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=colors[i % len(colors)], label=f) for i, f in enumerate(families)],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    ax.margins(y=0.01)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return None
