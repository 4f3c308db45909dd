"""python -m pydl.bench [--threads N] [--family NAME ...] [--quick] [--repeats R] [--out DIR]
                     [--device cpu|cuda]

Probes this machine (FMA peak, STREAM triad bandwidth), times every family's pydl variants and
torch, prints a markdown table per family, and writes bench-t<threads>-<time>.json (and .png when
matplotlib is importable) into --out. See bench/README.md for what each column means.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import pydl

from . import machine, report
from .registry import Config, registered
from .timing import time_case


def parse_args(argv=None):
    fams = list(registered())
    ap = argparse.ArgumentParser(prog="python -m pydl.bench",
                                 description="Time pydl's kernels against torch on this machine.")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for pydl and torch alike (default: all cores available)")
    ap.add_argument("--family", action="append", choices=fams, metavar="NAME",
                    help=f"run only this family (repeatable); one of: {', '.join(fams)}")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats (~30 s)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed samples per runner; the median is reported (default 7, quick 3)")
    ap.add_argument("--out", default=os.path.join("bench", "results"),
                    help="folder for the JSON and PNG results (default: bench/results/)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    # The smoke test's sizes: tiny shapes and short samples, so a run takes a few seconds.
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        ap.error("--threads must be a positive integer")
    if args.repeats is not None and args.repeats < 1:
        ap.error("--repeats must be a positive integer")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device == "cuda":
        # No family has CUDA cases yet; say what the machine has and stop cleanly.
        if pydl.cuda.is_available():
            print(f"pydl.bench --device cuda: {pydl.cuda.status()}; no benchmark family has CUDA "
                  "cases yet, nothing to time.")
        else:
            print(f"pydl.bench --device cuda: no usable GPU here: {pydl.cuda.status()}")
            print("  (the CUDA kernels are still tested, on the CPU emulator pydl.cuda_emu; "
                  "its timings say nothing about a GPU, so none are reported)")
        return 0

    try:
        import torch
    except ImportError:
        torch = None
    mode = "tiny" if args.tiny else "quick" if args.quick else "default"
    repeats = args.repeats or {"default": 7, "quick": 3, "tiny": 1}[mode]
    min_time = {"default": 0.05, "quick": 0.02, "tiny": 0.0}[mode]  # shortest sample, seconds
    threads = args.threads or machine.available_cores()
    pydl.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)

    t_start = time.perf_counter()
    cfg = Config(mode=mode, isas=tuple(pydl.kernels.isas()), default_isa=pydl.kernels.current_isa(),
                 threads=threads)
    info = machine.info(threads, torch)
    probes = machine.probe(all_isas=(mode != "tiny"),
                           triad_elements=machine.TRIAD_ELEMENTS if mode != "tiny" else 1 << 20)
    print(f"# pydl.bench — {info['cpu_model']}, {info['cores']} cores, {threads} thread(s), "
          f"ISA {info['isa']} (of {', '.join(info['isas'])}), torch {info['torch_version'] or 'absent'}")
    print()
    peaks = ", ".join(f"{isa} {p['float32']:.1f} / {p['float64']:.1f}"
                      for isa, p in probes["fma_peak_gflops_by_isa"].items())
    print(f"- FMA peak, GFLOP/s float32 / float64 at {threads} thread(s): {peaks}")
    print(f"- STREAM triad bandwidth: {probes['triad_gbs']:.1f} GB/s "
          f"(3 x {probes['triad_elements'] * 4 >> 20} MiB float32 arrays)")
    load = info["load_average"]
    if load and load[0] > max(0, info["cores"] - threads) + 0.5:
        print(f"- ⚠ load average {load[0]:.1f} on {info['cores']} cores before the run: other "
              "processes compete for the cores, so timings (multi-threaded ones most) are noisy")
    print(f"- {repeats} interleaved samples per runner, median reported"
          + ("" if torch is not None else "; torch is not importable: pydl rows only"))
    print()

    fams = registered()
    chosen = args.family or list(fams)
    all_rows = []
    for name in dict.fromkeys(chosen):
        fam = fams[name]
        rows = []
        for case in fam.build(cfg):
            rows += report.make_rows(name, case, time_case(case, cfg, repeats, min_time, torch),
                                     probes)
        all_rows += rows
        print(f"## {name}: {fam.description}")
        print()
        print(report.markdown_table(rows))
        print()

    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    stem = os.path.join(args.out, f"bench-t{threads}-{stamp}")
    doc = {
        "schema": 1,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else list(argv),
        "config": {"mode": mode, "repeats": repeats, "min_sample_s": min_time,
                   "families": list(dict.fromkeys(chosen))},
        "machine": {**info, "probes": probes},
        "elapsed_s": None,
        "rows": all_rows,
    }
    chart_problem = report.write_chart(
        stem + ".png", all_rows,
        f"pydl vs torch {info['torch_version']} — {info['cpu_model']}, {threads} thread(s), "
        f"ISA {info['isa']}")
    doc["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    report.write_json(stem + ".json", doc)
    print(f"Results: {stem}.json")
    if chart_problem:
        print(f"No chart: {chart_problem}.")
    else:
        print(f"Chart:   {stem}.png")
    print(f"({doc['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
