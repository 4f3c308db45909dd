"""What machine this is, and its two roofline numbers measured by pydl's C++ probes.

* FMA peak (``_C.probe_fma_peak``): GFLOP/s of independent vector FMA chains on every thread,
  float32 and float64, for each ISA pydl has here (the default ISA's number is the compute roof).
* Memory bandwidth (``_C.probe_triad_bandwidth``): the STREAM triad a = b + s*c on three float32
  arrays of ``n`` elements, bytes counted as STREAM does (3 x 4 bytes per element).
Both run at the current thread count (``pydl.set_num_threads``), so call them after setting it.
"""
from __future__ import annotations

import os
import platform
import sys

import pydl
from pydl import _C

# 3 arrays x 64 MiB (16 Mi float32 each): far beyond any L3 this code will meet on one socket.
TRIAD_ELEMENTS = 16 << 20


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def probe(all_isas: bool = True, triad_elements: int = TRIAD_ELEMENTS) -> dict:
    """Runs the probes; takes about a second."""
    isas = pydl.kernels.isas() if all_isas else [pydl.kernels.current_isa()]
    by_isa = {}
    for isa in isas:
        with pydl.kernels.isa(isa):
            by_isa[isa] = {"float32": _C.probe_fma_peak(False), "float64": _C.probe_fma_peak(True)}
    default = pydl.kernels.current_isa()
    if default not in by_isa:
        by_isa[default] = {"float32": _C.probe_fma_peak(False), "float64": _C.probe_fma_peak(True)}
    return {
        "fma_peak_gflops": dict(by_isa[default]),
        "fma_peak_gflops_by_isa": by_isa,
        "triad_gbs": _C.probe_triad_bandwidth(int(triad_elements)),
        "triad_elements": int(triad_elements),
        "triad_bytes_per_element": 12,  # STREAM's count for float32: read b, read c, write a
    }


def load_average() -> list:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return []


def info(threads: int, torch=None) -> dict:
    return {
        "load_average": load_average(),  # 1/5/15 min, before the run: other work competing
        "cpu_model": cpu_model(),
        "cores": available_cores(),
        "isa": pydl.kernels.current_isa(),
        "isas": pydl.kernels.isas(),
        "threads": threads,
        "pydl_version": getattr(pydl, "__version__", "?"),
        "torch_version": getattr(torch, "__version__", None),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
